"""Sensor sources as coroutine factories for :meth:`Sensor.run`.

Blocking readers (file replay, tails, live capture) run in threads and hand batches over with
``emit_threadsafe``; the TCP and HTTP intakes are asyncio servers (``servers``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from dcwatch.intake.shipper import Sensor, Stopped
from dcwatch.intake.tail import FileTail
from dcwatch.model.activity import Activity

Task = Callable[[], Coroutine[Any, Any, None]]


def replay(sensor: Sensor, paths: list[str], rate: float | None = None,
           batch: int = 256) -> Task:
    """Files as ``dcwatch scan`` reads them (time-ordered, de-duplicated), optionally paced to
    ``rate`` activities per second. The source is finished at the end (eof)."""
    from dcwatch.pipeline import ActivityStream  # the one module that wires every reader

    clock = sensor.add_source(f"replay:{','.join(paths)}")
    stop = threading.Event()

    def work() -> None:
        stream = ActivityStream(paths)
        buf: list[Activity] = []
        start = time.monotonic()
        for n, a in enumerate(stream, 1):
            if stop.is_set():
                return
            buf.append(a)
            if rate:
                ahead = n / rate - (time.monotonic() - start)
                if ahead > 0:
                    sensor.emit_threadsafe(clock, buf)
                    buf = []
                    time.sleep(ahead)
            if len(buf) >= batch:
                sensor.emit_threadsafe(clock, buf)
                buf = []
        sensor.emit_threadsafe(clock, buf)
        sensor.counters["skipped"] += sum(s.skipped for s in stream.stats)
        clock.done = True

    async def run() -> None:
        try:
            with contextlib.suppress(Stopped):
                await asyncio.to_thread(work)
        finally:
            stop.set()

    return run


def samba_tail(sensor: Sensor, path: str, state_dir: str) -> Task:
    """Follow one Samba JSON audit log (rotation followed, position kept in ``state_dir``)."""
    name = Path(path).name
    tail = FileTail(path, Path(state_dir) / f"tail-{name}.json")
    clock = sensor.add_source(f"tail:{path}", caught_up=lambda: tail.at_eof)
    stop = threading.Event()

    def emit(acts: list[Activity], on_durable: Callable[[], None] | None) -> None:
        sensor.emit_threadsafe(clock, acts, on_durable)
        sensor.counters["skipped"] = tail.stats.skipped

    async def run() -> None:
        try:
            with contextlib.suppress(Stopped):
                await asyncio.to_thread(tail.run, emit, stop.is_set)
        finally:
            stop.set()

    return run


def live_capture(sensor: Sensor, interface: str, bpf: str | None = None) -> Task:
    """``sources.live.capture`` on an interface; kernel drops travel in the marks."""
    from dcwatch.sources.base import SourceStats
    from dcwatch.sources.live import DEFAULT_FILTER, capture

    clock = sensor.add_source(f"live:{interface}", live=True)
    stop = threading.Event()

    def work() -> None:
        st = SourceStats(f"live:{interface}")
        buf: list[Activity] = []
        first = 0.0

        def tick(k: Any) -> None:
            sensor.counters["capture_drops"] = k.drops
            flush()

        def flush() -> None:
            nonlocal buf
            if buf:
                sensor.emit_threadsafe(clock, buf)
                buf = []

        for a in capture(interface, st, bpf_expr=bpf or DEFAULT_FILTER, stop=stop.is_set,
                         on_tick=tick):
            if not buf:
                first = time.monotonic()
            buf.append(a)
            if len(buf) >= 64 or time.monotonic() - first > 0.02:
                flush()
        flush()
        sensor.counters["capture_drops"] = st.weirds.get("capture_kernel_drops", 0)

    async def run() -> None:
        try:
            with contextlib.suppress(Stopped):
                await asyncio.to_thread(work)
        finally:
            stop.set()

    return run
