"""Event-time merge of many sensors' streams (watermarks, as in stream processing).

Activities wait, ordered by ``(ts, sensor, seq)``, until every active sensor's watermark has
passed them, then leave in time order: the same order ``dcwatch scan`` gives the same inputs
(ties: by sensor name, then by the sensor's own order). Each sensor's activities queue apart (a
sensor sends mostly in time order: those append to a sorted run, the others go to a small heap)
and a heap of the sensors' heads merges them: a pop costs O(log sensors), where one heap of the
whole backlog cost O(log backlog) comparisons scattered over memory (~1 us per activity at a
200k-activity backlog). A sensor stops holding the others back
once it says it is finished (eof) or when nothing was heard from it for ``idle_after`` seconds;
what it sends later is "late": processed at once, out of order, and counted. A sensor that was
never heard cannot hold anything back by its watermark, so with ``expect`` sensors configured
nothing leaves until that many have been heard, or until ``idle_after`` seconds after ``started``
(the center's start): a sensor that starts slowly, or whose first messages sat in its spool while
the bus was down, is waited for like a known sensor that went quiet. The heap is also
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


_Entry = tuple[datetime, int, int, Activity]  # (ts, seq, n, activity): n is unique


class _Queue:
    """One sensor's waiting activities: a sorted run (arrivals in order) and a heap (the rest)."""

    __slots__ = ("late", "run")

    def __init__(self) -> None:
        self.run: deque[_Entry] = deque()
        self.late: list[_Entry] = []

    def first(self) -> _Entry | None:
        """The smallest entry (None when empty)."""
        run, late = self.run, self.late
        if late and (not run or late[0] < run[0]):
            return late[0]
        return run[0] if run else None

    def push(self, e: _Entry) -> bool:
        """Add an entry; whether it is now the smallest."""
        run = self.run
        if not run or e > run[-1]:
            run.append(e)
            return len(run) == 1 and not (self.late and self.late[0] < e)
        heapq.heappush(self.late, e)
        return self.late[0] is e and e < run[0]

    def pop(self) -> _Entry:
        """Remove and return the smallest entry."""
        run, late = self.run, self.late
        if late and (not run or late[0] < run[0]):
            return heapq.heappop(late)
        return run.popleft()

    def __len__(self) -> int:
        return len(self.run) + len(self.late)

    def __getstate__(self) -> tuple[list[_Entry], list[_Entry]]:
        return list(self.run), self.late

    def __setstate__(self, state: tuple[list[_Entry], list[_Entry]]) -> None:
        self.run, self.late = deque(state[0]), state[1]


class Reorder:
    """Buffers activities until the sensors' watermarks release them."""

    def __init__(self, idle_after: float = 30.0, max_buffer: int = 2_000_000,
                 dedup_span: timedelta = timedelta(minutes=10), dedup_cap: int = 500_000,
                 dedup_keep: int = 100_000, expect: int = 0, started: float = 0.0) -> None:
        self.idle_after = idle_after
        self.expect = expect  # sensors to wait for (their watermarks) before anything leaves
        self.started = started  # wall clock (time.time()) the wait for them counts from
        self.max_buffer = max_buffer
        self.sensors: dict[str, SensorClock] = {}
        self._queues: dict[str, _Queue] = {}
        # (ts, sensor, seq, n) of each sensor's smallest entry; entries whose n is no longer
        # their sensor's smallest are stale and skipped (a push or pop adds a new head)
        self._heads: list[tuple[datetime, str, int, int]] = []
        self.pending = 0  # activities waiting
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
        d.setdefault("expect", 0)
        d.setdefault("started", 0.0)
        heap = d.pop("heap", None)  # an older version's single heap: queue it per sensor
        self.__dict__.update(d)
        if heap is not None:
            self._queues, self._heads, self.pending = {}, [], 0
            for ts, sensor, seq, n, a in heap:
                self._push(sensor, (ts, seq, n, a))

    def __len__(self) -> int:
        return self.pending

    def _push(self, sensor: str, e: _Entry) -> None:
        q = self._queues.get(sensor)
        if q is None:
            q = self._queues[sensor] = _Queue()
        if q.push(e):
            heapq.heappush(self._heads, (e[0], sensor, e[1], e[2]))
        self.pending += 1

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
        n, released, seen = self._n, self.released_to, self._seen
        q = self._queues.get(sensor)
        if q is None:
            q = self._queues[sensor] = _Queue()
        run, added = q.run, 0
        for i, a in enumerate(acts):
            ts = a.ts
            if released is not None and ts < released:
                if a.uid in seen:
                    self.duplicates += 1
                    continue
                self.late += 1
            e = (ts, seq + i, next(n), a)
            if run and e > run[-1]:  # in order after a non-empty run (most): never a new head
                run.append(e)
                added += 1
            else:
                self._push(sensor, e)
        self.pending += added

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
        if len(self.sensors) < self.expect and now - self.started < self.idle_after:
            return False, None  # an expected sensor not heard yet: its watermark is unknown
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
        heads, queues = self._heads, self._queues
        pop, push = heapq.heappop, heapq.heappush
        while heads:
            ts, sensor, _, n = heads[0]
            q = queues[sensor]
            first = q.first()
            if first is None or first[2] != n:
                pop(heads)  # stale: that entry left already, or a smaller one came after it
                continue
            if not everything and (limit is None or ts >= limit):
                if self.pending <= self.max_buffer:
                    break
                self.forced += 1
            pop(heads)
            a = q.pop()[3]
            self.pending -= 1
            nxt = q.first()
            if nxt is not None:
                push(heads, (nxt[0], sensor, nxt[1], nxt[2]))
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
