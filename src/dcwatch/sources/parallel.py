"""Reading many inputs on several cores.

Worker processes (forked, so they share the input list without pickling it) each take a share
of the inputs, read, pre-filter and map them exactly as the single-process path does
(``read_input`` + ``reorder`` per input, merged by time), and stream the activities back in
compact batches over a pipe. This process merges the workers' streams by (time, input number,
position): the same total order as ``files.merge`` over all inputs, so a parallel scan yields
the very same activities in the very same order as a sequential one.

Memory stays bounded: a pipe holds at most one batch in flight per worker (a worker blocks on
send until this process reads), and each worker holds what the sequential path would hold for
its inputs. Worth it only for several large inputs: ``auto_jobs`` decides.
"""

from __future__ import annotations

import contextlib
import dataclasses
import heapq
import multiprocessing
import os
import pickle
import traceback
from collections.abc import Callable, Iterator
from typing import Any

from dcwatch.errors import DcwatchError
from dcwatch.model.activity import Account, Activity, ActivityKind, Origin
from dcwatch.sources.base import SourceStats
from dcwatch.sources.files import Input, read_input, reorder

BATCH = 512  # activities per pipe message
MIN_BYTES = 64 << 20  # below this much input, worker start-up and transfer cost more than they save
MAX_JOBS = 8

_KINDS = {k._value_: k for k in ActivityKind}
_STATS_FIELDS = [f.name for f in dataclasses.fields(SourceStats)]

Packed = tuple[Any, ...]  # (time, input number, position, kind, ...): see _pack


class WorkerFailed(DcwatchError):
    """A reader process failed or died; the scan cannot be completed as asked."""


def auto_jobs(inputs: list[Input]) -> int:
    """How many reader processes suit these inputs on this machine (1 = read in-process)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    if cpus < 2 or len(inputs) < 2 or "fork" not in multiprocessing.get_all_start_methods():
        return 1
    total = 0
    for i in inputs:
        if i.path:
            with contextlib.suppress(OSError):
                total += os.path.getsize(i.path)
    if total < MIN_BYTES:
        return 1
    return min(cpus, MAX_JOBS, len(inputs))


def partition(inputs: list[Input], jobs: int) -> list[list[int]]:
    """Input numbers per worker, balanced by size (largest first), each list in input order."""
    sizes = []
    for n, i in enumerate(inputs):
        try:
            size = os.path.getsize(i.path) if i.path else 1 << 20
        except OSError:
            size = 0
        sizes.append((size, n))
    loads = [(0, w) for w in range(jobs)]
    groups: list[list[int]] = [[] for _ in range(jobs)]
    for size, n in sorted(sizes, key=lambda x: (-x[0], x[1])):
        load, w = heapq.heappop(loads)
        groups[w].append(n)
        heapq.heappush(loads, (load + size, w))
    return [sorted(g) for g in groups if g]


def _pack(a: Activity, n: int, pos: int) -> Packed:
    actor, target = a.actor, a.target
    return (a.ts, n, pos, a.kind._value_, tuple(a.origin), a.host, a.src_ip,
            a.src_port, a.src_host, a.dst_ip, a.dst_port, a.dst_host,
            None if actor is None else tuple(actor), None if target is None else tuple(target),
            a.outcome, a.status, a.event_id, a.protocol, a.fields, a.uid)


_new = object.__new__
_tuple_new = tuple.__new__


def _unpack(p: Packed) -> Activity:
    a = _new(Activity)
    (a.ts, _n, _pos, kind, origin, a.host, a.src_ip, a.src_port, a.src_host, a.dst_ip,
     a.dst_port, a.dst_host, actor, target, a.outcome, a.status, a.event_id, a.protocol,
     a.fields, a.uid) = p
    a.kind = _KINDS[kind]
    a.origin = _tuple_new(Origin, origin)
    a.actor = None if actor is None else _tuple_new(Account, actor)
    a.target = None if target is None else _tuple_new(Account, target)
    return a


def _worker(conn: Any, inputs: list[Input], numbers: list[int], evtx_threads: int) -> None:
    """Child process: read this share of the inputs, send packed batches, then "x"."""
    dumps = pickle.dumps
    done: list[tuple[int, SourceStats]] = []

    def one(n: int) -> Iterator[Packed]:
        st = SourceStats(inputs[n].name)
        for pos, a in enumerate(reorder(read_input(inputs[n], st, evtx_threads))):
            yield _pack(a, n, pos)
        done.append((n, st))

    try:
        batch: list[Packed] = []
        for p in heapq.merge(*(one(n) for n in numbers)):  # tuples: (time, n, pos) decide
            batch.append(p)
            if done or len(batch) >= BATCH:
                conn.send_bytes(dumps(("a", batch), 5))
                batch = []
                for n, st in done:
                    conn.send_bytes(dumps(("d", n, st), 5))
                done.clear()
        if batch:
            conn.send_bytes(dumps(("a", batch), 5))
        for n, st in done:
            conn.send_bytes(dumps(("d", n, st), 5))
        conn.send_bytes(dumps(("x",), 5))
    except BrokenPipeError:  # the reader went away (consumer stopped early)
        pass
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        with contextlib.suppress(OSError):
            conn.send_bytes(dumps(("e", traceback.format_exc(limit=8)), 5))
    finally:
        conn.close()


def read_parallel(inputs: list[Input], stats: list[SourceStats], jobs: int,
                  on_done: Callable[[int], None], evtx_threads: int = 1) -> Iterator[Activity]:
    """All inputs' activities in (time, input, position) order, read by ``jobs`` processes.

    ``stats[n]`` (created by the caller, one per input) receives input n's final counters;
    ``on_done(n)`` is called once input n has been read completely."""
    ctx = multiprocessing.get_context("fork")
    procs = []
    streams = []
    for numbers in partition(inputs, jobs):
        parent, child = ctx.Pipe(duplex=False)
        p = ctx.Process(target=_worker, args=(child, inputs, numbers, evtx_threads),
                        daemon=True, name="dcwatch-reader")
        p.start()
        child.close()
        procs.append(p)
        streams.append(_receive(parent, inputs, numbers, stats, on_done))
    try:
        for p in heapq.merge(*streams):
            yield _unpack(p)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)


def _receive(conn: Any, inputs: list[Input], numbers: list[int], stats: list[SourceStats],
             on_done: Callable[[int], None]) -> Iterator[Packed]:
    loads = pickle.loads
    try:
        while True:
            try:
                msg = loads(conn.recv_bytes())
            except (EOFError, OSError):
                names = ", ".join(inputs[n].name for n in numbers[:3])
                raise WorkerFailed(f"a reader process died while reading {names}"
                                   f"{' ...' if len(numbers) > 3 else ''}") from None
            tag = msg[0]
            if tag == "a":
                yield from msg[1]
            elif tag == "d":
                _, n, st = msg
                for f in _STATS_FIELDS:  # into the caller's object: others hold it
                    setattr(stats[n], f, getattr(st, f))
                on_done(n)
            elif tag == "x":
                return
            else:
                raise WorkerFailed(f"a reader process failed:\n{msg[1]}")
    finally:
        conn.close()
