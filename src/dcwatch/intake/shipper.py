"""The sensor process: sources -> ordered queue -> bus (JetStream) or disk spool.

Sources hand batches of activities to :meth:`Sensor.emit` (threads use
:meth:`Sensor.emit_threadsafe`); each activity gets the sensor's next sequence number. The
shipper takes what is queued and sends consecutive activities as batch messages (``batch``
activities each, ``bus.wire.batch_envelopes``): one message per activity cost the center more
than detecting it. Every
``mark_interval`` a mark with the sensor's watermark goes through the same queue, so it is
published after every activity it covers. While the bus is unreachable, or while the spool still
holds anything (order is kept), envelopes go to the spool; a drainer sends the spool's oldest
segment whenever the bus is back. ``on_durable`` callbacks run once a batch is on the bus or in
the spool (tails save their position then; HTTP answers then).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dcwatch.bus.jetstream import BusOptions, connect, ensure_stream
from dcwatch.bus.spool import Spool
from dcwatch.bus.wire import SENT, Envelope, Mark, batch_envelopes, check_name, now_iso
from dcwatch.model.activity import Activity

log = logging.getLogger("dcwatch.sensor")

class Stopped(Exception):
    """The sensor is stopping: a source thread should return."""


DONE = datetime.max.replace(tzinfo=UTC)  # a finished source holds nothing back


@dataclass(slots=True)
class SourceClock:
    """How far a source's time has got: what it may still send is at or after its watermark.

    ``ordered`` sources (file replay, a tail catching up) are at the time of the last activity
    they queued; ``live`` ones (capture, pushes, a tail at its end) at now minus ``lateness``."""

    name: str
    live: bool = False
    last: datetime | None = None
    done: bool = False
    caught_up: Callable[[], bool] | None = None  # e.g. a tail at the end of its file

    def watermark(self, lateness: timedelta) -> datetime | None:
        if self.done:
            return DONE
        if self.live or (self.caught_up is not None and self.caught_up()):
            now = datetime.now(UTC) - lateness
            return now if self.last is None else max(now, self.last)
        return self.last


@dataclass
class SensorOptions:
    """What a sensor needs besides its sources (docs/deployment.md)."""

    site: str
    sensor: str
    spool_dir: str
    bus: BusOptions = field(default_factory=BusOptions)
    spool_max_bytes: int = 1 << 30
    mark_interval: float = 0.5  # seconds between marks (heartbeats)
    lateness: float = 5.0  # seconds a live activity may arrive after its timestamp
    batch: int = 500  # activities per bus message
    take: int = 8  # bus messages published at once (their acks awaited together)
    publish_timeout: float = 3.0
    queue_batches: int = 256  # bounded queue: sources wait when the sensor falls behind


class Sensor:
    """Ships the activities of its sources to the site's stream."""

    def __init__(self, opts: SensorOptions) -> None:
        check_name("site", opts.site)
        check_name("sensor", opts.sensor)
        self.opts = opts
        self.spool = Spool(opts.spool_dir, opts.spool_max_bytes)
        self.clocks: dict[str, SourceClock] = {}
        self.counters: dict[str, int] = {"published": 0, "spooled": 0, "capture_drops": 0,
                                         "skipped": 0, "late": 0}
        self.seq = 0
        self.nc: Any = None
        self.js: Any = None
        self.connected = asyncio.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        # (envelopes, or (seq of the first, activities), callback once durable)
        self._queue: asyncio.Queue[tuple[list[Envelope] | tuple[int, list[Activity]],
                                         Callable[[], None] | None]] | None = None
        self._stopping = False
        self._final_mark_sent = asyncio.Event()
        self.stream_ready = False
        self.run_id = time.time_ns()  # marks of a restarted sensor are not duplicates
        self._busy = False  # the shipper holds envelopes taken from the queue
        self._announced: datetime | None = None  # the watermark of the last mark queued

    # --- sources ------------------------------------------------------------------------------

    def add_source(self, name: str, live: bool = False,
                   caught_up: Callable[[], bool] | None = None) -> SourceClock:
        """Register a source; its clock holds the sensor's watermark back until it moves."""
        clock = SourceClock(name, live, caught_up=caught_up)
        self.clocks[name] = clock
        return clock

    def _numbered(self, acts: list[Activity]) -> tuple[int, list[Activity]]:
        """The activities with the sequence number of the first (the rest follow it)."""
        first = self.seq + 1
        self.seq += len(acts)
        return first, list(acts)

    async def emit(self, clock: SourceClock, acts: list[Activity],
                   on_durable: Callable[[], None] | None = None) -> None:
        """Queue a batch (waits while the queue is full); the clock moves once it is queued."""
        assert self._queue is not None
        if acts or on_durable:
            await self._queue.put((self._numbered(acts) if acts else [], on_durable))
        if acts and not clock.live:
            newest = max(a.ts for a in acts)
            clock.last = newest if clock.last is None else max(clock.last, newest)
        elif acts and self._announced is not None:
            # a live source's activity older than a watermark already sent: the center may
            # have processed its time (it is analysed late there): counted, in the marks
            wm = self._announced
            late = sum(1 for a in acts if a.ts < wm)
            if late:
                self.counters["late"] += late

    def emit_threadsafe(self, clock: SourceClock, acts: list[Activity],
                        on_durable: Callable[[], None] | None = None) -> None:
        """:meth:`emit` from a source's thread; raises :class:`Stopped` once the sensor stops."""
        assert self.loop is not None
        if self._stopping:
            raise Stopped
        fut = asyncio.run_coroutine_threadsafe(self.emit(clock, acts, on_durable), self.loop)
        while True:
            try:
                return fut.result(0.5)
            except concurrent.futures.TimeoutError:
                if self._stopping:
                    fut.cancel()
                    raise Stopped from None

    async def durable(self, clock: SourceClock, acts: list[Activity]) -> None:
        """Queue a batch and wait until it is on the bus or in the spool (HTTP intake)."""
        done = asyncio.get_running_loop().create_future()
        def settle() -> None:
            if not done.done():
                done.set_result(None)

        await self.emit(clock, acts, settle)
        await done

    def watermark(self) -> tuple[datetime | None, bool]:
        """(the sensor's watermark, whether every source is finished)."""
        lateness = timedelta(seconds=self.opts.lateness)
        marks = [c.watermark(lateness) for c in self.clocks.values()]
        if not marks:
            return datetime.now(UTC) - lateness, False
        if any(m is None for m in marks):
            return None, False
        eof = all(m == DONE for m in marks)
        wm = min(marks)  # type: ignore[type-var]
        if eof:
            wm = max((c.last for c in self.clocks.values() if c.last), default=None)
        return wm, eof

    async def _mark(self, eof: bool | None = None) -> None:
        wm, all_done = self.watermark()
        if wm is not None and (self._announced is None or wm > self._announced):
            self._announced = wm
        self.seq += 1
        stats = dict(self.counters)
        stats["spool_dropped"] = self.spool.dropped
        mark = Mark(self.opts.sensor, self.seq, wm, all_done if eof is None else eof, stats)
        env = mark.envelope(self.opts.site)
        env.headers["Nats-Msg-Id"] += f":{self.run_id}"
        assert self._queue is not None
        await self._queue.put(([env], None))

    # --- shipping -----------------------------------------------------------------------------

    async def _connect(self) -> None:
        async def disconnected() -> None:
            self.connected.clear()

        async def reconnected() -> None:
            self.connected.set()

        async def error(e: Exception) -> None:
            log.debug("bus: %s", e)

        while not self._stopping:
            try:
                self.nc = await connect(self.opts.bus, f"dcwatch-sensor-{self.opts.sensor}",
                                        disconnected_cb=disconnected,
                                        reconnected_cb=reconnected, error_cb=error)
                self.js = self.nc.jetstream(timeout=self.opts.publish_timeout)
                self.connected.set()
                return
            except Exception as e:  # noqa: BLE001 - any connect failure means: spool, retry
                log.info("bus %s unreachable (%s); spooling", self.opts.bus.url, e)
                await asyncio.sleep(1.0)

    async def _publish(self, envs: list[Envelope]) -> bool:
        """Publish and wait for JetStream's acks; False if anything failed (nothing is lost:
        the caller spools it, and what was stored is dropped as a duplicate when re-sent)."""
        if self.js is None or not self.connected.is_set():
            return False
        if not self.stream_ready:
            try:
                await ensure_stream(self.js, self.opts.site, self.opts.bus)
                self.stream_ready = True
            except Exception as e:  # noqa: BLE001 - the bus is not usable yet
                log.info("bus: cannot set up the stream: %s", e)
                return False
        acts = [e for e in envs if not e.is_mark]
        marks = [e for e in envs if e.is_mark]
        t = self.opts.publish_timeout
        try:
            for i in range(0, len(acts), self.opts.take):
                chunk = acts[i:i + self.opts.take]
                await asyncio.wait_for(asyncio.gather(*[
                    self.js.publish(e.subject, e.body, headers=e.headers, timeout=t)
                    for e in chunk]), t + 1)
                self.counters["published"] += sum(e.activities for e in chunk)
            if marks:
                m = marks[-1]  # a later mark covers what earlier ones said
                m.headers[SENT] = now_iso()
                await self.js.publish(m.subject, m.body, headers=m.headers, timeout=t)
        except Exception as e:  # noqa: BLE001 - timeouts, no responders, closed connection
            log.info("bus publish failed (%s: %s); spooling", type(e).__name__, e)
            return False
        return True

    async def _take(self) -> tuple[list[Envelope], list[Callable[[], None]]]:
        """What is queued (up to ``take`` messages' worth), in queue order: runs of consecutive
        activities become batch messages, marks stay where they were."""
        assert self._queue is not None
        envs: list[Envelope] = []
        callbacks: list[Callable[[], None]] = []
        try:
            item = await asyncio.wait_for(self._queue.get(), 0.2)
        except TimeoutError:
            return envs, callbacks
        run: list[Activity] = []
        run_first = 0
        taken = 0

        def flush() -> None:
            envs.extend(batch_envelopes(self.opts.site, self.opts.sensor, run_first, run))
            run.clear()

        while True:
            payload, cb = item
            if isinstance(payload, tuple):
                first, acts = payload
                if run and (cb or first != run_first + len(run)):
                    # a mark took a sequence number in between; or a batch a client may send
                    # again (HTTP, a tail after a restart): its own messages, so that a retry
                    # gives the same messages, which the bus drops as duplicates
                    flush()
                pos = 0
                while pos < len(acts):
                    if not run:
                        run_first = first + pos
                    room = self.opts.batch - len(run)
                    run.extend(acts[pos:pos + room])
                    pos += room
                    if len(run) >= self.opts.batch:
                        flush()
                taken += len(acts)
                if cb:
                    flush()
            else:
                flush()
                envs.extend(payload)
            if cb:
                callbacks.append(cb)
            if taken >= self.opts.batch * self.opts.take or self._queue.empty():
                break
            item = self._queue.get_nowait()
        flush()
        return envs, callbacks

    async def _ship(self) -> None:
        while True:
            self._busy = False
            envs, callbacks = await self._take()
            self._busy = bool(envs)
            if envs:
                if len(self.spool) or not await self._publish(envs):
                    self.spool.append(envs)
                    self.counters["spooled"] += sum(e.activities for e in envs)
                for cb in callbacks:
                    cb()
            else:
                for cb in callbacks:
                    cb()
            if len(self.spool) and self.connected.is_set():
                oldest = self.spool.oldest()
                if oldest is not None:
                    path, items = oldest
                    if await self._publish(items):
                        self.spool.remove(path)
            if self._stopping and self._queue is not None and self._queue.empty() and \
                    (not len(self.spool) or not self.connected.is_set()):
                return

    async def _ticker(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.opts.mark_interval)
            await self._mark()

    async def run(self, tasks: list[Callable[[], Any]], stop: asyncio.Event,
                  exit_when_done: bool = False) -> None:
        """Run the shipper with ``tasks`` (coroutine factories: the sources) until ``stop`` is
        set, or until every source is finished when ``exit_when_done``."""
        self.loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(self.opts.queue_batches)
        connector = asyncio.create_task(self._connect())
        shipper = asyncio.create_task(self._ship())
        ticker = asyncio.create_task(self._ticker())
        sources = [asyncio.create_task(t()) for t in tasks]
        try:
            while not stop.is_set():
                if exit_when_done and self.clocks and self.watermark()[1]:
                    await self._mark(eof=True)
                    # Finished inputs: leave once everything is on the bus (spool drained).
                    while not stop.is_set() and (not self._queue.empty() or len(self.spool)
                                                 or self._busy):
                        await asyncio.sleep(0.05)
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 0.1)
        finally:
            self._stopping = True
            ticker.cancel()
            for s in sources:
                s.cancel()
            await asyncio.gather(ticker, *sources, return_exceptions=True)
            # Drain what is queued (to the bus, or to the spool) before leaving.
            deadline = time.monotonic() + 10
            while not shipper.done() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            shipper.cancel()
            connector.cancel()
            await asyncio.gather(shipper, connector, return_exceptions=True)
            self.spool.close()
            if self.nc is not None:
                with contextlib.suppress(Exception):
                    await self.nc.drain()
