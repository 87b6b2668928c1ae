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
import functools
import heapq
import io
import multiprocessing
import os
import pickle
import traceback
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from dcwatch.errors import DcwatchError
from dcwatch.gctune import batch_gc
from dcwatch.model.activity import Account, Activity, ActivityKind, Origin
from dcwatch.sources.base import SourceStats
from dcwatch.sources.files import EVTX_MAGIC, Input, read_input, reorder

BATCH = 512  # activities per pipe message
PIPE_BYTES = 1 << 20  # pipe buffer per worker (a few batches): the workers need not run in step
MIN_BYTES = 64 << 20  # below this much input, worker start-up and transfer cost more than they save
MAX_JOBS = 8
SPLIT_BYTES = 32 << 20  # an EVTX file this big is read by several workers, by chunk ranges
MAX_PARTS = 1024  # > MAX_JOBS: orders (input, part) as one integer
EVTX_HEADER = 4096
EVTX_CHUNK = 65536

_KINDS = {k._value_: k for k in ActivityKind}
_STATS_FIELDS = [f.name for f in dataclasses.fields(SourceStats)]

Packed = tuple[Any, ...]  # (time, input*MAX_PARTS+part, position, kind, ...): see _pack


class WorkerFailed(DcwatchError):
    """A reader process failed or died; the scan cannot be completed as asked."""


def usable_cpus() -> int:
    """CPUs this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def can_fork() -> bool:
    """Whether worker processes can be forked here (they inherit the inputs unpickled)."""
    return "fork" in multiprocessing.get_all_start_methods()


def auto_jobs(inputs: list[Input]) -> int:
    """How many reader processes suit these inputs on this machine (1 = read in-process)."""
    cpus = usable_cpus()
    if cpus < 2 or not inputs or not can_fork():
        return 1
    total = 0
    for i in inputs:
        if i.path:
            with contextlib.suppress(OSError):
                total += os.path.getsize(i.path)
    if total < MIN_BYTES:
        return 1
    if len(inputs) == 1 and not _evtx_chunks(inputs[0]):
        return 1
    return min(cpus, MAX_JOBS)


class Item(NamedTuple):
    """One unit of a worker's work: a whole input, or a range of chunks of a large EVTX."""

    n: int  # input number
    part: int  # 0.. within the input (chunk ranges in file order)
    size: int
    chunks: tuple[int, int] | None = None  # [first, end) chunk numbers; None: whole input


def _evtx_chunks(inp: Input) -> int:
    """Number of 64 KiB chunks of an EVTX file on disk worth splitting; 0 otherwise.

    Only a file written in order is split: its chunks' first record numbers (chunk header,
    offset 8) must rise through the file. A wrapped-around log, or chunks of several logs put
    together, would make each range's stream jump back in time, and the merge of such streams
    would neither keep the one-process order nor run the readers side by side. Asked by
    ``auto_jobs`` and again by ``plan``: the chunk headers are read once per file version."""
    if not inp.path:
        return 0
    try:
        st = os.stat(inp.path)
    except OSError:
        return 0
    if st.st_size < SPLIT_BYTES:
        return 0
    return _chunks_in_order(inp.path, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=64)
def _chunks_in_order(path: str, size: int, mtime_ns: int) -> int:
    chunks = (size - EVTX_HEADER) // EVTX_CHUNK
    last = -1
    try:
        with open(path, "rb") as f:
            if f.read(8) != EVTX_MAGIC:
                return 0
            for n in range(chunks):
                f.seek(EVTX_HEADER + n * EVTX_CHUNK)
                head = f.read(16)
                if head[:8] != b"ElfChnk\x00":
                    continue  # unused chunk slot
                first = int.from_bytes(head[8:16], "little")
                if first <= last:
                    return 0
                last = first
    except OSError:
        return 0
    return chunks


def plan(inputs: list[Input], jobs: int) -> list[list[Item]]:
    """Work items per worker, balanced by size (largest first), each list in input order.

    A large EVTX file is cut into ``jobs`` ranges of whole chunks (records never span chunks),
    so one big Security.evtx is read on every core too."""
    items: list[Item] = []
    for n, i in enumerate(inputs):
        chunks = _evtx_chunks(i) if jobs > 1 else 0
        if chunks >= 2 * jobs:
            step = -(-chunks // jobs)
            for part, lo in enumerate(range(0, chunks, step)):
                hi = min(lo + step, chunks)
                items.append(Item(n, part, (hi - lo) * EVTX_CHUNK, (lo, hi)))
            continue
        try:
            size = os.path.getsize(i.path) if i.path else 1 << 20
        except OSError:
            size = 0
        items.append(Item(n, 0, size))
    loads = [(0, w) for w in range(jobs)]
    groups: list[list[Item]] = [[] for _ in range(jobs)]
    for it in sorted(items, key=lambda x: (-x.size, x.n, x.part)):
        load, w = heapq.heappop(loads)
        groups[w].append(it)
        heapq.heappush(loads, (load + it.size, w))
    return [sorted(g) for g in groups if g]


class ChunkRange(io.RawIOBase):
    """An EVTX file seen as its header followed by chunks [lo, hi) only (no copy)."""

    def __init__(self, path: str, lo: int, hi: int) -> None:
        self._f = open(path, "rb")
        self._header = self._f.read(EVTX_HEADER)
        self._base = EVTX_HEADER + lo * EVTX_CHUNK
        self._size = EVTX_HEADER + (hi - lo) * EVTX_CHUNK
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        base = (0, self._pos, self._size)[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, b: Any) -> int:
        n = min(len(b), self._size - self._pos)
        if n <= 0:
            return 0
        if self._pos < EVTX_HEADER:
            n = min(n, EVTX_HEADER - self._pos)
            b[:n] = self._header[self._pos:self._pos + n]
        else:
            self._f.seek(self._base + self._pos - EVTX_HEADER)
            data = self._f.read(n)
            n = len(data)
            b[:n] = data
        self._pos += n
        return n

    def close(self) -> None:
        self._f.close()
        super().close()


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


def _worker(conn: Any, inputs: list[Input], items: list[Item], evtx_threads: int,
            inherited: tuple[Any, ...] = ()) -> None:
    """Child process: read this share of the work, send packed batches, then "x".
    ``inherited``: the parent's reading ends the fork copied here (this worker's and earlier
    ones'): closed, so that a parent gone makes a send fail instead of blocking for ever."""
    for c in inherited:
        c.close()
    dumps = pickle.dumps
    done: list[tuple[int, int, SourceStats]] = []

    def one(it: Item) -> Iterator[Packed]:
        inp = inputs[it.n]
        st = SourceStats(inp.name)
        key = it.n * MAX_PARTS + it.part
        if it.chunks is None:
            for pos, a in enumerate(reorder(read_input(inp, st, evtx_threads))):
                yield _pack(a, key, pos)
        else:
            from dcwatch.sources.evtx import read_evtx

            with ChunkRange(inp.path, *it.chunks) as f:  # type: ignore[arg-type]
                chunk_src: Any = f  # a read/seek file object, as the evtx parser wants
                for pos, a in enumerate(reorder(read_evtx(chunk_src, inp.name, st,
                                                          evtx_threads))):
                    yield _pack(a, key, pos)
        done.append((it.n, it.part, st))

    def send_done() -> None:
        for d in done:
            conn.send_bytes(dumps(("d", *d), 5))
        done.clear()

    with batch_gc():  # the process's whole work is this batch
        try:
            batch: list[Packed] = []
            for p in heapq.merge(*(one(it) for it in items)):  # tuples: (time, n, pos) decide
                batch.append(p)
                if done or len(batch) >= BATCH:
                    conn.send_bytes(dumps(("a", batch), 5))
                    batch = []
                    send_done()
            if batch:
                conn.send_bytes(dumps(("a", batch), 5))
            send_done()
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
    ``on_done(n)`` is called once input n has been read completely (all its parts)."""
    ctx = multiprocessing.get_context("fork")
    groups = plan(inputs, jobs)
    parts: dict[int, list[SourceStats | None]] = {}
    for g in groups:
        for it in g:
            parts.setdefault(it.n, []).append(None)

    def part_done(n: int, part: int, st: SourceStats) -> None:
        got = parts[n]
        got[part] = st
        if all(x is not None for x in got):
            _combine(got, stats[n])  # type: ignore[arg-type]
            on_done(n)

    procs = []
    streams = []
    parents: list[Any] = []
    for items in groups:
        parent, child = ctx.Pipe(duplex=False)
        parents.append(parent)
        _widen(child)
        p = ctx.Process(target=_worker,
                        args=(child, inputs, items, evtx_threads, tuple(parents)),
                        daemon=True, name="dcwatch-reader")
        p.start()
        child.close()
        procs.append(p)
        streams.append(_receive(parent, [inputs[it.n].name for it in items], part_done))
    try:
        for packed in heapq.merge(*streams):
            yield _unpack(packed)
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(timeout=5)


def _widen(conn: Any) -> None:
    """Let a worker run ahead of the merge by a few batches: a bigger pipe buffer (Linux)."""
    with contextlib.suppress(AttributeError, OSError):
        import fcntl

        fcntl.fcntl(conn.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)


def _combine(parts: list[SourceStats], into: SourceStats) -> None:
    """Counters of an input's parts, added up into the caller's object (others hold it)."""
    first = parts[0]
    for f in _STATS_FIELDS:
        setattr(into, f, getattr(first, f))
    for st in parts[1:]:
        into.records += st.records
        into.activities += st.activities
        into.unmapped += st.unmapped
        into.skipped += st.skipped
        into.first_error = into.first_error or st.first_error
        into.fatal = into.fatal or st.fatal
        into.format = into.format or st.format
        for k, v in st.weirds.items():
            into.weirds[k] = into.weirds.get(k, 0) + v


def _receive(conn: Any, names: list[str],
             part_done: Callable[[int, int, SourceStats], None]) -> Iterator[Packed]:
    loads = pickle.loads
    try:
        while True:
            try:
                msg = loads(conn.recv_bytes())
            except (EOFError, OSError):
                raise WorkerFailed(f"a reader process died while reading {', '.join(names[:3])}"
                                   f"{' ...' if len(names) > 3 else ''}") from None
            tag = msg[0]
            if tag == "a":
                yield from msg[1]
            elif tag == "d":
                part_done(msg[1], msg[2], msg[3])
            elif tag == "x":
                return
            else:
                raise WorkerFailed(f"a reader process failed:\n{msg[1]}")
    finally:
        conn.close()
