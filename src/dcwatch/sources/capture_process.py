"""Live capture and decoding in a process of their own, activities handed on in batches.

``dcwatch sensor`` with two cores or more: a forked child reads the ring and decodes
(``live.capture``), packs its activities (``parallel._pack``) and sends them over a pipe in
batches; this process unpacks them and the caller runs the engine (resolver, detectors, store).
The capture core then pays only the kernel, the ring and the decoders. The child yields exactly
what ``capture()`` yields, in the same order: the same activities reach the same engine.

Buffering is bounded: the pipe holds ``PIPE_BYTES`` (a few batches). When the engine falls
behind, the child blocks on send, stops reading the ring, and the kernel's ring fills and then
drops, counted as kernel drops as in one process. Latency: a batch leaves when it holds
``BATCH`` activities or its first one is ``FLUSH_S`` old (checked at every ring wake-up, at most
100 ms apart), and at every once-a-second tick with the counters.

Shutdown: SIGINT or SIGTERM to this process (iterating in the main thread) is passed on to the
child, which ends as at the end of ``--duration`` (the kernel's current block, the decoder's
``finish()``), sends what is left and its counters, and exits; this process yields all of it
before the iterator ends.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from dcwatch.errors import ConfigError
from dcwatch.model.activity import Activity
from dcwatch.sources.base import SourceStats
from dcwatch.sources.live import CaptureStats, capture
from dcwatch.sources.parallel import (
    WorkerFailed,
    _combine,
    _pack,
    _unpack,
    _widen,
    can_fork,
    usable_cpus,
)

BATCH = 256  # activities per pipe message
FLUSH_S = 0.05  # a batch's first activity waits at most this long (plus one ring wake-up)

# produce(stats, stop, on_tick) -> activities: runs in the child
Producer = Callable[
    [SourceStats, Callable[[], bool], Callable[[CaptureStats], None]], Iterable[Activity]
]


def can_split() -> bool:
    """Whether capture can run in a forked child here (fork available, two cores or more)."""
    return usable_cpus() >= 2 and can_fork()


def capture_in_child(interface: str, stats: SourceStats, **kwargs: Any) -> Iterator[Activity]:
    """``live.capture(interface, stats, **kwargs)`` run in a child process (same activities)."""
    kwargs.pop("stop", None)
    kwargs.pop("on_tick", None)

    def produce(st: SourceStats, stop: Callable[[], bool],
                on_tick: Callable[[CaptureStats], None]) -> Iterable[Activity]:
        return capture(interface, st, stop=stop, on_tick=on_tick, **kwargs)

    return run_in_child(produce, stats)


def _child(conn: Any, produce: Producer, stats: SourceStats, inherited: Any = None) -> None:
    """Child process: activities in packed batches, counters each tick, then ("x", stats).
    ``inherited``: the parent's reading end, which the fork copied here: closed, so that a
    parent gone (stopped reading, or killed) makes the next send fail instead of blocking for
    ever once the pipe is full."""
    if inherited is not None:
        inherited.close()
    stopping = False

    def on_signal(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    dumps = pickle.dumps
    monotonic = time.monotonic
    batch: list[Any] = []
    first = 0.0

    def flush() -> None:
        nonlocal batch
        if batch:
            conn.send_bytes(dumps(("a", batch), 5))
            batch = []

    def stop() -> bool:  # called by the capture loop at every wake-up
        if batch and monotonic() - first >= FLUSH_S:
            flush()
        return stopping

    def on_tick(k: CaptureStats) -> None:
        flush()
        conn.send_bytes(dumps(("s", stats), 5))

    try:
        pack = _pack
        for pos, a in enumerate(produce(stats, stop, on_tick)):
            if not batch:
                first = monotonic()
            batch.append(pack(a, 0, pos))
            if len(batch) >= BATCH:
                flush()
        flush()
        conn.send_bytes(dumps(("x", stats), 5))
    except BrokenPipeError:  # the reader went away (consumer stopped early)
        pass
    except ConfigError as e:  # e.g. no CAP_NET_RAW: the parent says it as one process would
        with contextlib.suppress(OSError):
            conn.send_bytes(dumps(("c", str(e)), 5))
    except BaseException:  # noqa: BLE001 - reported to the parent, which raises it
        with contextlib.suppress(OSError):
            conn.send_bytes(dumps(("e", traceback.format_exc(limit=8)), 5))
    finally:
        conn.close()


def run_in_child(produce: Producer, stats: SourceStats) -> Iterator[Activity]:
    """The activities ``produce`` yields in a forked child, in order; ``stats`` receives the
    child's counters (each tick and at the end). ConfigError in the child is raised here."""
    ctx = multiprocessing.get_context("fork")
    for f in (sys.stdout, sys.stderr):  # else the child would write what is pending again
        with contextlib.suppress(OSError, ValueError):
            f.flush()
    parent, child = ctx.Pipe(duplex=False)
    _widen(child)
    proc = ctx.Process(target=_child, args=(child, produce, stats, parent), daemon=True,
                       name="dcwatch-capture")
    proc.start()
    child.close()

    def forward(signum: int, frame: Any) -> None:
        with contextlib.suppress(OSError):
            os.kill(proc.pid, signal.SIGTERM)  # type: ignore[arg-type]

    old: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, forward)
    loads = pickle.loads
    unpack = _unpack
    try:
        while True:
            try:
                msg = loads(parent.recv_bytes())
            except (EOFError, OSError):
                raise WorkerFailed("the capture process died") from None
            tag = msg[0]
            if tag == "a":
                for p in msg[1]:
                    yield unpack(p)
            elif tag == "s":
                _combine([msg[1]], stats)
            elif tag == "x":
                _combine([msg[1]], stats)
                return
            elif tag == "c":
                raise ConfigError(msg[1])
            else:
                raise WorkerFailed(f"the capture process failed:\n{msg[1]}")
    finally:
        for signum, h in old.items():
            signal.signal(signum, h)
        parent.close()
        if proc.is_alive():  # stopped early (consumer gone, an error): the child ends too
            forward(signal.SIGTERM, None)
        proc.join(timeout=5)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=5)
