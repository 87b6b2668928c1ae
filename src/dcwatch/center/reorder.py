"""Event-time merge of many sensors' streams (watermarks, as in stream processing).

Activities wait in a heap keyed ``(ts, sensor, seq)`` until every active sensor's watermark has
passed them, then leave in time order: the same order ``dcwatch scan`` gives the same inputs
(ties: by sensor name, then by the sensor's own order). A sensor stops holding the others back
once it says it is finished (eof) or when nothing was heard from it for ``idle_after`` seconds;
what it sends later is "late": processed at once, out of order, and counted. The heap is also
bounded (``max_buffer``). Released activities pass the same de-duplication as the scan pipeline
(``pipeline.ActivityStream._dedup``: same uid within 10 minutes of event time), and the uids of
at least the last ``dedup_keep`` released activities are remembered whatever their time: sensors
send batches, so the bus no longer drops a re-sent activity by its uid (it drops a re-sent
identical batch), and a sensor that replays old data after a restart must not have it processed
twice. A late activity whose uid was processed is dropped on arrival (a duplicate, not late).
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dcwatch.bus.wire import Mark
from dcwatch.model.activity import Activity


@dataclass(slots=True)
class SensorClock:
    """What the center knows of one sensor."""

    name: str
    watermark: datetime | None = None
    eof: bool = False
    heard: float = 0.0  # wall clock (time.time()) of its last message
    stats: dict[str, int] = field(default_factory=dict)
    activities: int = 0


class Reorder:
    """Buffers activities until the sensors' watermarks release them."""

    def __init__(self, idle_after: float = 30.0, max_buffer: int = 2_000_000,
                 dedup_span: timedelta = timedelta(minutes=10), dedup_cap: int = 500_000,
                 dedup_keep: int = 100_000) -> None:
        self.idle_after = idle_after
        self.max_buffer = max_buffer
        self.sensors: dict[str, SensorClock] = {}
        self.heap: list[tuple[datetime, str, int, int, Activity]] = []
        self._n = itertools.count()
        self.released_to: datetime | None = None  # newest time released so far
        self.late = 0
        self.forced = 0
        self.duplicates = 0
        self._span = dedup_span
        self._cap = dedup_cap
        self._keep = dedup_keep
        self._recent: deque[tuple[datetime, str]] = deque()
        self._seen: set[str] = set()

    def __getstate__(self) -> dict:
        d = dict(self.__dict__)
        d["_n"] = next(self._n)
        return d

    def __setstate__(self, d: dict) -> None:
        d["_n"] = itertools.count(d["_n"])
        d.setdefault("_keep", 0)  # a checkpoint of an older version
        self.__dict__.update(d)

    def sensor(self, name: str, now: float) -> SensorClock:
        c = self.sensors.get(name)
        if c is None:
            c = self.sensors[name] = SensorClock(name)
        c.heard = now
        return c

    def add(self, sensor: str, seq: int, a: Activity, now: float) -> None:
        """An activity from a sensor (in any order)."""
        self.add_batch(sensor, seq, [a], now)

    def add_batch(self, sensor: str, seq: int, acts: list[Activity], now: float) -> None:
        """Consecutive activities of a sensor (sequence numbers ``seq``, ``seq + 1``, ...)."""
        c = self.sensor(sensor, now)
        c.activities += len(acts)
        heap, n, released, seen = self.heap, self._n, self.released_to, self._seen
        push = heapq.heappush
        for i, a in enumerate(acts):
            ts = a.ts
            if released is not None and ts < released:
                if a.uid in seen:
                    self.duplicates += 1
                    continue
                self.late += 1
            push(heap, (ts, sensor, seq + i, next(n), a))

    def mark(self, sensor: str, m: Mark, now: float) -> SensorClock:
        """A sensor's mark: its watermark only moves forward."""
        c = self.sensor(sensor, now)
        if m.watermark is not None and (c.watermark is None or m.watermark > c.watermark):
            c.watermark = m.watermark
        c.eof = m.eof
        c.stats = m.stats
        return c

    def limit(self, now: float) -> tuple[bool, datetime | None]:
        """(anything may go, the time below which activities may go)."""
        active = [c for c in self.sensors.values()
                  if not c.eof and now - c.heard < self.idle_after]
        if not active:
            return True, None
        if any(c.watermark is None for c in active):
            return False, None
        return False, min(c.watermark for c in active)  # type: ignore[type-var]

    def release(self, now: float) -> Iterator[Activity]:
        """Activities that may be processed now, in order, de-duplicated."""
        everything, limit = self.limit(now)
        heap = self.heap
        while heap:
            ts = heap[0][0]
            if not everything and (limit is None or ts >= limit):
                if len(heap) <= self.max_buffer:
                    break
                self.forced += 1
            a = heapq.heappop(heap)[4]
            if self.released_to is None or ts > self.released_to:
                self.released_to = ts
            if self._fresh(a):
                yield a

    def _fresh(self, a: Activity) -> bool:
        if a.uid in self._seen:
            self.duplicates += 1
            return False
        self._seen.add(a.uid)
        self._recent.append((a.ts, a.uid))
        cutoff = a.ts - self._span
        recent = self._recent
        keep = self._keep
        while recent and ((recent[0][0] < cutoff and len(recent) > keep)
                          or len(recent) > self._cap):
            self._seen.discard(recent.popleft()[1])
        return True

    def all_eof(self, expect: int = 0) -> bool:
        """Every sensor (at least ``expect`` of them) said it is finished."""
        done = [c for c in self.sensors.values() if c.eof]
        return bool(self.sensors) and len(done) == len(self.sensors) and len(done) >= expect
