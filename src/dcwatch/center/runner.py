"""The center's loop: fetch from the bus, merge by time, detect, commit, checkpoint, ack.

Per round: fetch a batch from every site's durable pull consumer; skip messages at or below the
checkpointed stream position (redeliveries); marks move sensor watermarks, activities enter the
reorder buffer; what the watermarks release goes through the resolver and the detectors; every
``commit_interval`` the alerts they created or changed are saved (idempotent upserts), every
``checkpoint_interval`` the detection state (engine + resolver + reorder buffer, pickled) and the
stream positions are saved, and only then are the covered messages acknowledged.

Pickling the state takes seconds at 100k accounts, so it does not happen on the loop: at the
checkpoint's cut the loop forks, the child pickles its copy-on-write image of the state into a
pipe and exits, and the writer thread reads the pipe and saves it with the positions of that same
cut (where ``os.fork`` is missing, or with ``fork_checkpoints=False``, the loop pickles in place).

A restarted center loads the checkpoint and re-creates its consumers at the checkpointed position
+ 1: activities processed after the checkpoint are processed again, which re-derives the same
alerts (deterministic ids) and re-saves them (the store's upserts make that a no-op), so nothing
is lost and nothing is doubled. The stream keeps messages after they are acknowledged (limits
retention, ``BusOptions.max_age``), which is what makes that replay possible.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import gc
import logging
import os
import pickle
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from dcwatch.bus.jetstream import BusOptions, connect, ensure_stream
from dcwatch.bus.wire import Mark, decode_activities
from dcwatch.center.reorder import Reorder
from dcwatch.center.state import HealthBook, load_checkpoint, save_checkpoint
from dcwatch.detectors import registry
from dcwatch.detectors.base import DetectionConfig
from dcwatch.detectors.engine import Engine
from dcwatch.entities.resolver import Resolver
from dcwatch.errors import StoreError
from dcwatch.model.alert import Alert
from dcwatch.store import Store

log = logging.getLogger("dcwatch.center")


# sensor counters (in its marks) whose growth is a health issue: (counter, issue kind, what it
# counts, advice)
_COUNTED = (
    ("capture_drops", "capture_drops", "capture_drops", ""),
    ("spool_dropped", "spool_drops", "spool_dropped", ""),
    ("late", "late_activities", "live activities older than the watermark it had sent",
     ": raise its --lateness"),
)


@dataclass
class CenterOptions:
    """Configuration of ``dcwatch center`` (docs/deployment.md, configuration reference)."""

    sites: list[str]
    db: str
    bus: BusOptions = field(default_factory=BusOptions)
    name: str = "center"  # durable consumer and checkpoint name
    mode: str = "live"  # live (learning periods honoured) | forensic (as dcwatch scan)
    dcs: list[str] = field(default_factory=list)
    honeytokens: list[str] = field(default_factory=list)
    sensitive: list[str] = field(default_factory=list)
    detectors: list[str] | None = None
    # bus messages per fetch: a sensor's message carries up to 500 activities (768 KiB), and
    # nats-server drops a client that lets more than 64 MiB wait for it (slow consumer)
    batch: int = 32
    commit_interval: float = 0.2
    checkpoint_interval: float = 2.0
    idle_after: float = 30.0  # a sensor silent this long stops holding the others back
    silent_after: float = 300.0  # ... and this long raises "sensor_silent"
    lag_after: float = 30.0  # activities processed this long after the bus stored them
    skew_after: float = 60.0  # sensor clock vs bus clock
    until_eof: bool = False  # stop (and flush detector state) once every sensor is finished
    expect_sensors: int = 0  # hold processing until this many sensors are heard (at most
    # idle_after seconds); with until_eof, also wait for at least this many to finish
    fork_checkpoints: bool = True  # pickle the state in a forked child (off the loop)


class Center:
    """One center process (one active center per set of sites)."""

    def __init__(self, opts: CenterOptions) -> None:
        self.opts = opts
        self.store = Store(opts.db)
        self.windows = {s: c.update_window for s, c in registry().items()}
        self.health = HealthBook()
        self.positions: dict[str, int] = {}
        self.restored = False
        cp = load_checkpoint(self.store, opts.name)
        if cp is not None:
            self.positions, blob, _ = cp
            st = pickle.loads(blob)
            self.engine: Engine = st["engine"]
            self.reorder: Reorder = st["reorder"]
            self.health.open = st.get("health_open", set())
            self.restored = True
            now = time.time()
            for c in self.reorder.sensors.values():
                c.heard = now  # a restart is no reason to call every sensor silent
        else:
            from dcwatch.store.portal import Portal

            resolver = Resolver(opts.dcs, opts.honeytokens, opts.sensitive)
            self.engine = Engine(resolver, DetectionConfig(opts.mode), opts.detectors,
                                 Portal(self.store).engine_exclusions())
            self.reorder = Reorder(opts.idle_after)
        self.reorder.idle_after = opts.idle_after
        self.reorder.expect = opts.expect_sensors
        self.reorder.started = time.time()  # expected sensors not heard yet: waited for from now
        self.engine.listeners = [self._on_alert]
        self.dirty: dict[str, Alert] = {}
        # activity uids already linked to each saved alert's row (the writer thread's; see
        # Store.save_alerts): a re-save of a growing alert checks only its new activities
        self._linked: dict[str, tuple[str, set[str]]] = {}
        self._writer: ThreadPoolExecutor | None = None  # the store writer, while run() runs
        self._inflight: collections.deque[tuple[asyncio.Future[Any], list[Any] | None]] = \
            collections.deque()
        self._max_inflight = 4
        self._write_failed: BaseException | None = None
        self.unacked: list[Any] = []
        self.redelivered = 0
        self.processed = 0
        self.alert_latencies: list[float] = []  # seconds from the newest activity to commit
        self.finished = False
        self.loop_ended = 0.0  # time.monotonic() when the loop stopped taking messages
        self.loop_cpu = 0.0  # and time.process_time() then
        self._seen_late = self.reorder.late
        self._stop = asyncio.Event()
        self._last_msg_age = 0.0
        self.snapshot_seconds = 0.0  # how long the last state pickling took (fork to saved)
        self._gaps: set[str] = set()  # sites whose consumer skipped messages: re-create it
        self._resynced: set[str] = set()  # streams whose next message may follow a gap

    def _on_alert(self, alert: Alert, trigger: str) -> None:
        self.dirty[alert.id] = alert

    def stop(self) -> None:
        """Ask the loop to commit, checkpoint and leave."""
        self._stop.set()

    # --- messages -----------------------------------------------------------------------------

    def handle(self, site: str, msg: Any, now: float) -> None:
        """Fold one bus message into the state (no I/O)."""
        meta = msg.metadata
        seq = meta.sequence.stream
        pos = self.positions.get(meta.stream)
        if pos is not None and seq <= pos:
            self.unacked.append(msg)
            self.redelivered += 1  # already in the state
            return
        if pos is not None and seq != pos + 1 and meta.stream not in self._resynced:
            # Messages in between were delivered to a connection that dropped (they come back
            # after ack_wait, out of order): read again from the next position instead.
            self._gaps.add(site)
            return
        self._resynced.discard(meta.stream)
        self.unacked.append(msg)
        self.positions[meta.stream] = seq
        self._last_msg_age = max(0.0, now - meta.timestamp.timestamp())
        if msg.subject.endswith(".marks"):
            m = Mark.from_message(msg.headers, msg.data)
            key = f"{site}/{m.sensor}"
            before = dict(self.reorder.sensors[key].stats) if key in self.reorder.sensors else {}
            self.reorder.mark(key, m, now)
            self._sensor_health(site, m, before, meta.timestamp)
            return
        sensor, sseq, acts = decode_activities(msg.headers, msg.data)
        self.reorder.add_batch(f"{site}/{sensor}", sseq, acts, now)

    def _sensor_health(self, site: str, m: Mark, before: dict[str, int],
                       stored: datetime) -> None:
        h = self.health
        for stat, kind, what, advice in _COUNTED:
            n, was = m.stats.get(stat, 0), before.get(stat, 0)
            if n > was:
                h.raise_issue(kind, site, m.sensor, f"{m.sensor}: {n - was} more {what} "
                              f"({n} in all){advice}", {"total": n})
        sent = (m.sent or stored)
        skew = (stored - sent).total_seconds() if m.sent else 0.0
        if abs(skew) > self.opts.skew_after:
            h.raise_issue("clock_skew", site, m.sensor,
                          f"{m.sensor}'s clock is {skew:+.0f}s off the bus's", {"seconds": skew})
        else:
            h.clear("clock_skew", site, m.sensor)
        h.clear("sensor_silent", site, m.sensor)

    def process_released(self, now: float) -> int:
        """Run what the watermarks release through the engine."""
        n = 0
        for a in self.reorder.release(now):
            self.engine.process(a)
            n += 1
        self.processed += n
        return n

    def _periodic_health(self, now: float) -> None:
        h = self.health
        for key, c in self.reorder.sensors.items():
            site, _, sensor = key.partition("/")
            if not c.eof and now - c.heard > self.opts.silent_after:
                h.raise_issue("sensor_silent", site, sensor,
                              f"nothing heard from {sensor} for {now - c.heard:.0f}s")
        if self._last_msg_age > self.opts.lag_after:
            h.raise_issue("bus_lag", "", "", f"processing {self._last_msg_age:.0f}s behind the "
                          "bus", {"seconds": self._last_msg_age})
        elif self._last_msg_age < self.opts.lag_after / 2:
            h.clear("bus_lag", "", "")
        if self.reorder.late > self._seen_late:
            h.raise_issue("late_activities", "", "", f"{self.reorder.late} activities arrived "
                          "after their time was processed", {"total": self.reorder.late})
            self._seen_late = self.reorder.late

    # --- durability ---------------------------------------------------------------------------

    def _take_dirty(self) -> list[Alert]:
        """Snapshots of the alerts changed since the last commit (the engine goes on changing
        the originals while the writer thread saves the copies: it appends to and re-sorts
        ``activities``, rebuilds ``entities`` and replaces ``evidence`` values, never mutating
        a value it has handed out, so copying the containers is enough)."""
        dirty, self.dirty = self.dirty, {}
        return [Alert(a.id, a.type, a.external_id, a.title, a.description, a.severity, a.phase,
                      a.status, a.first_seen, a.last_seen, a.key, list(a.entities),
                      dict(a.evidence), list(a.activities), a.count, a.mitre, a.trigger)
                for a in dirty.values()]

    def _write_alerts(self, alerts: list[Alert]) -> int:
        """Writer side of a commit: one batched, idempotent upsert of the changed alerts."""
        if not alerts:
            return 0
        self.store.save_alerts(alerts, self.windows, linked=self._linked)
        now = datetime.now(UTC)
        self.alert_latencies.extend((now - a.last_seen).total_seconds() for a in alerts)
        return len(alerts)

    def commit_alerts(self) -> int:
        """Save the alerts changed since the last commit (synchronously)."""
        return self._write_alerts(self._take_dirty())

    def _prune(self) -> None:
        """Only open alerts can still change; finished ones are in the store."""
        keep = {id(a) for a in self.engine._open.values()}
        self.engine.alerts = {k: a for k, a in self.engine.alerts.items() if id(a) in keep}

    def state_bytes(self) -> bytes:
        """The pickled detection state (listeners are not part of it)."""
        listeners, self.engine.listeners = self.engine.listeners, []
        self._prune()
        collecting = gc.isenabled()
        gc.disable()  # pickling allocates enough to run collections over the whole heap: 2x
        try:
            return pickle.dumps({"engine": self.engine, "reorder": self.reorder,
                                 "health_open": self.health.open},
                                protocol=pickle.HIGHEST_PROTOCOL)
        finally:
            if collecting:
                gc.enable()
            self.engine.listeners = listeners

    def _take_checkpoint(self, fork: bool = True) -> Any:
        """Everything a checkpoint writes, taken on the loop's thread (a consistent cut): the
        changed alerts, the health changes, the pickled state, the stream positions. Returns
        the job that writes it (alerts, then health, then checkpoint; one thread)."""
        alerts = self._take_dirty()
        health = self.health.take()
        self._prune()
        blob = self._snapshot(fork)
        positions = dict(self.positions)
        activities = self.engine.activities
        open_ids = set(self.engine.alerts)

        def job() -> None:
            self._write_alerts(alerts)
            HealthBook.write(self.store, health)
            save_checkpoint(self.store, self.opts.name, positions, blob(), activities)
            # alerts no longer open will not be saved again: forget what was linked to them
            for k in [k for k in self._linked if k not in open_ids]:
                del self._linked[k]
        return job

    def _snapshot(self, fork: bool = True) -> Callable[[], bytes]:
        """The pickled state as of now; returns the function (run on the writer thread) that
        gives it. A forked child pickles its copy-on-write image of the state into a pipe, so
        the loop only pays for the fork; ``fork_checkpoints=False`` pickles here."""
        t0 = time.monotonic()
        if not (fork and self.opts.fork_checkpoints and hasattr(os, "fork")):
            blob = self.state_bytes()
            self.snapshot_seconds = time.monotonic() - t0
            return lambda: blob
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: pickle, write, leave without running any cleanup
            code = 1
            try:
                gc.disable()  # a collection would copy every page it touches
                os.close(r)
                blob = self.state_bytes()
                with os.fdopen(w, "wb") as f:
                    f.write(blob)
                code = 0
            finally:
                os._exit(code)
        os.close(w)

        def read() -> bytes:
            with os.fdopen(r, "rb") as f:
                blob = f.read()
            _, status = os.waitpid(pid, 0)
            self.snapshot_seconds = time.monotonic() - t0
            if status != 0 or not blob:
                raise StoreError(f"checkpoint: the process pickling the state failed "
                                 f"(wait status {status})")
            return blob
        return read

    def checkpoint(self) -> None:
        """Save alerts, state and positions; the caller then acknowledges ``unacked``."""
        self._take_checkpoint(fork=False)()

    async def _ack(self, msgs: list[Any] | None = None) -> None:
        if msgs is None:
            msgs, self.unacked = self.unacked, []
        for m in msgs:
            with contextlib.suppress(Exception):  # an ack lost now is a redelivery later
                await m.ack()

    # --- the writer thread --------------------------------------------------------------------

    async def _submit(self, job: Any, acks: list[Any] | None = None) -> None:
        """Queue a store job on the writer thread (FIFO, at most ``_max_inflight`` queued: the
        loop waits for the oldest beyond that). ``acks``: messages to acknowledge once this job,
        and so every job before it, is committed."""
        while len(self._inflight) >= self._max_inflight:
            await self._settle(wait=True)
        fut = asyncio.get_running_loop().run_in_executor(self._writer, self._guarded, job)
        self._inflight.append((fut, acks))

    def _guarded(self, job: Any) -> Any:
        """Run a writer job unless an earlier one failed: its changes (taken from ``dirty``)
        are not in the store, so no later checkpoint may claim the messages behind them."""
        if self._write_failed is not None:
            raise StoreError(f"an earlier store write failed: {self._write_failed!r}")
        try:
            return job()
        except BaseException as e:
            self._write_failed = e
            raise

    async def _settle(self, wait: bool = False) -> None:
        """Acknowledge what finished jobs covered; with ``wait``, wait for the oldest job.
        A failed job raises here (the loop stops; nothing after it is acknowledged)."""
        while self._inflight and (wait or self._inflight[0][0].done()):
            fut, acks = self._inflight.popleft()
            await fut
            if acks:
                await self._ack(acks)
            wait = False

    async def _drain(self) -> None:
        while self._inflight:
            await self._settle(wait=True)

    # --- the loop -----------------------------------------------------------------------------

    async def _subscribe(self, js: Any) -> list[tuple[str, Any]]:
        return [(site, await self._bind(js, site)) for site in self.opts.sites]

    async def _bind(self, js: Any, site: str) -> Any:
        """(Re-)create the site's durable consumer at the stream position after the state's."""
        from nats.js import api
        from nats.js.errors import NotFoundError

        stream = await ensure_stream(js, site, self.opts.bus)
        with contextlib.suppress(NotFoundError):
            await js.delete_consumer(stream, self.opts.name)
        start = self.positions.get(stream, 0) + 1
        await js.add_consumer(stream, api.ConsumerConfig(
            durable_name=self.opts.name, deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=start, ack_policy=api.AckPolicy.EXPLICIT, ack_wait=120,
            max_deliver=-1, max_ack_pending=-1, max_waiting=16))
        self._resynced.add(stream)  # what follows may be later: expired from the stream
        return await js.pull_subscribe_bind(durable=self.opts.name, stream=stream)

    async def _rebind(self, js: Any, subs: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
        """Re-create the consumers of the sites where messages went missing."""
        out = []
        for site, sub in subs:
            if site in self._gaps:
                log.info("bus: messages of site %s went missing in delivery; reading again "
                         "from the state's position", site)
                with contextlib.suppress(Exception):
                    await sub.unsubscribe()
                try:
                    sub = await self._bind(js, site)
                    self._gaps.discard(site)
                except Exception as e:  # noqa: BLE001 - the bus is not back yet: next round
                    log.info("bus: cannot re-create the consumer of %s: %s", site, e)
            out.append((site, sub))
        return out

    async def _fetch(self, sub: Any, timeout: float) -> list[Any]:
        import nats.errors

        try:
            return await sub.fetch(self.opts.batch, timeout=timeout)
        except nats.errors.TimeoutError:
            return []
        except (nats.errors.Error, OSError) as e:
            log.info("bus fetch: %r", e)
            await asyncio.sleep(0.2)
            return []

    async def run(self) -> None:
        """Consume until :meth:`stop` (or until every sensor is finished with ``until_eof``)."""
        async def error(e: Exception) -> None:
            log.debug("bus: %s", e)

        while True:
            try:
                nc = await connect(self.opts.bus, f"dcwatch-center-{self.opts.name}",
                                   error_cb=error)
                js = nc.jetstream(timeout=5)
                subs = await self._subscribe(js)
                break
            except Exception as e:  # noqa: BLE001 - not up yet: retry until stopped
                log.info("bus %s: %s; retrying", self.opts.bus.url, e)
                if self._stop.is_set():
                    return
                await asyncio.sleep(0.5)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="dcwatch-center-writer")
        # The state is a large, long-lived, mostly acyclic heap: the default thresholds run a
        # collection every 700 allocations and cost 30-40 % of the detectors' time.
        thresholds = gc.get_threshold()
        gc.set_threshold(20_000, 50, 1000)
        last_commit = last_cp = last_health = time.monotonic()
        idle_rounds = 0
        try:
            while not self._stop.is_set():
                timeout = 0.05 if self.reorder.pending or self.dirty or self._inflight else 0.25
                batches = await asyncio.gather(*[self._fetch(s, timeout) for _, s in subs])
                now = time.time()
                got = 0
                for (site, _), msgs in zip(subs, batches, strict=True):
                    for m in msgs:
                        self.handle(site, m, now)
                    got += len(msgs)
                self.process_released(now)
                if self._gaps:
                    subs = await self._rebind(js, subs)
                mono = time.monotonic()
                if mono - last_health >= 1.0:
                    self._periodic_health(now)
                    last_health = mono
                await self._settle()
                # at least the configured interval, and five times what pickling the state takes
                # (a fifth of a core at most; under ack_wait, 120 s)
                interval = max(self.opts.checkpoint_interval,
                               min(60.0, 5 * self.snapshot_seconds))
                if mono - last_cp >= interval and self.unacked:
                    acks, self.unacked = self.unacked, []
                    await self._submit(self._take_checkpoint(), acks)
                    last_cp = last_commit = mono
                elif mono - last_commit >= self.opts.commit_interval and self.dirty:
                    await self._submit(functools.partial(self._write_alerts,
                                                         self._take_dirty()))
                    last_commit = mono
                idle_rounds = idle_rounds + 1 if got == 0 else 0
                if self.opts.until_eof and idle_rounds >= 2 and not self.reorder.pending and \
                        self.reorder.all_eof(self.opts.expect_sensors):
                    self.engine.finish()
                    self.finished = True
                    break
        finally:
            self.loop_ended = time.monotonic()  # before the final flush (benchmarks)
            self.loop_cpu = time.process_time()
            try:
                await self._drain()  # raises if a write failed: then no final checkpoint
                await asyncio.get_running_loop().run_in_executor(
                    self._writer, self._guarded, self._final)
                await self._ack()
            finally:
                gc.set_threshold(*thresholds)
                self._writer.shutdown(wait=True)
                with contextlib.suppress(Exception):
                    await nc.close()

    def _final(self) -> None:
        self.checkpoint()
        if self.finished:
            self.store.save_entities(self.engine.resolver.entity_rows())

