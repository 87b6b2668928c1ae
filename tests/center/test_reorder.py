"""The time-order buffer releases exactly what one heap of the whole backlog released.

``Reorder`` queues each sensor's activities apart and merges the sensors' heads; this checks it
against the reference it replaced (one heap keyed ``(ts, sensor, seq, n)``), on random streams:
several sensors, arrivals out of order, late and duplicate activities, marks, idle sensors and
the buffer bound forcing activities out.
"""

from __future__ import annotations

import heapq
import itertools
import pickle
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from dcwatch.bus.wire import Mark
from dcwatch.center.reorder import Reorder
from dcwatch.model.activity import Activity, ActivityKind, Origin

T0 = datetime(2026, 1, 1, tzinfo=UTC)


class HeapReorder(Reorder):
    """The previous implementation's add and release: one heap of everything waiting."""

    def __init__(self, **kw: object) -> None:
        super().__init__(**kw)  # type: ignore[arg-type]
        self.heap: list[tuple[datetime, str, int, int, Activity]] = []
        self._m = itertools.count()

    def add_batch(self, sensor: str, seq: int, acts: list[Activity], now: float) -> None:
        c = self.sensor(sensor, now)
        c.activities += len(acts)
        for i, a in enumerate(acts):
            if self.released_to is not None and a.ts < self.released_to:
                if a.uid in self._seen:
                    self.duplicates += 1
                    continue
                self.late += 1
            heapq.heappush(self.heap, (a.ts, sensor, seq + i, next(self._m), a))

    def release(self, now: float) -> Iterator[Activity]:
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


def _act(sec: float, n: int) -> Activity:
    return Activity(T0 + timedelta(seconds=sec), ActivityKind.LOGON, Origin("t", n),
                    host="dc1", src_ip=f"10.0.{n // 250 % 250}.{n % 250}",
                    fields={"record_id": n}, event_id=4624)


@pytest.mark.parametrize("seed", range(12))
def test_sensor_queues_release_what_one_heap_released(seed: int) -> None:
    rnd = random.Random(seed)
    sensors = [f"site/s{i}" for i in range(rnd.randint(1, 5))]
    kw = {"idle_after": 30.0, "max_buffer": rnd.choice([50, 400, 10_000])}
    new, ref = Reorder(**kw), HeapReorder(**kw)  # type: ignore[arg-type]
    clock = {s: 0.0 for s in sensors}
    seq = dict.fromkeys(sensors, 1)
    sent: list[Activity] = []
    n, now = 0, 1000.0
    for _ in range(300):
        now += rnd.random()
        s = rnd.choice(sensors)
        op = rnd.random()
        if op < 0.6:
            batch = []
            for _ in range(rnd.randint(1, 8)):
                if sent and rnd.random() < 0.05:
                    batch.append(rnd.choice(sent))  # sent again (a duplicate or late)
                    continue
                clock[s] += rnd.choice([0, 0.5, 1, 2])
                jitter = rnd.choice([0, 0, 0, -3, -1, 1])  # mostly in order
                n += 1
                batch.append(_act(max(0.0, clock[s] + jitter), n))
            sent.extend(batch)
            for r in (new, ref):
                r.add_batch(s, seq[s], batch, now)
            seq[s] += len(batch)
        elif op < 0.85:
            m = Mark(s.split("/")[1], 0, T0 + timedelta(seconds=clock[s] - rnd.choice([0, 2, 5])),
                     rnd.random() < 0.03)
            for r in (new, ref):
                r.mark(s, m, now)
        else:
            later = now + rnd.choice([0, 0, 40])  # sometimes every sensor looks idle
            got = [a.uid for a in new.release(later)]
            assert got == [a.uid for a in ref.release(later)]
            assert len(new) == len(ref.heap)
        if rnd.random() < 0.05:
            new = pickle.loads(pickle.dumps(new))  # a checkpoint in between
    for r in (new, ref):
        for s in sensors:
            r.mark(s, Mark(s.split("/")[1], 0, T0 + timedelta(days=1), True), now)
    assert [a.uid for a in new.release(now)] == [a.uid for a in ref.release(now)]
    assert (new.late, new.duplicates, new.forced, len(new)) == \
        (ref.late, ref.duplicates, ref.forced, 0)


def test_checkpoint_of_the_single_heap_version_loads() -> None:
    ref = HeapReorder(idle_after=30.0)
    acts = [_act(t, i) for i, t in enumerate([5, 3, 9, 1, 7])]
    ref.add_batch("site/a", 1, acts[:3], 0.0)
    ref.add_batch("site/b", 1, acts[3:], 0.0)
    state = ref.__getstate__()
    state.pop("_m")
    for k in ("_queues", "_heads", "pending"):
        state.pop(k)
    old = Reorder.__new__(Reorder)
    old.__setstate__(state)
    assert len(old) == 5
    for s in ("a", "b"):
        old.mark(f"site/{s}", Mark(s, 0, T0 + timedelta(days=1), True), 0.0)
    assert [(a.ts - T0).total_seconds() for a in old.release(0.0)] == [1, 3, 5, 7, 9]


def test_an_expected_sensor_not_heard_yet_holds_the_others_back() -> None:
    # Two of three expected sensors finished; the third has not been heard (it starts slowly,
    # or its first messages sit in its spool while the bus is down): nothing may leave, or its
    # activities would all arrive late and be analysed out of order.
    r = Reorder(idle_after=20.0, expect=3, started=1000.0)
    r.add_batch("site/a", 1, [_act(1, 1), _act(5, 2)], 1001.0)
    r.add_batch("site/b", 1, [_act(2, 3)], 1001.0)
    for s in ("a", "b"):
        r.mark(f"site/{s}", Mark(s, 0, T0 + timedelta(days=1), True), 1001.0)
    assert list(r.release(1002.0)) == []
    r.add_batch("site/c", 1, [_act(3, 4)], 1003.0)
    r.mark("site/c", Mark("c", 0, T0 + timedelta(seconds=4), False), 1003.0)
    assert [a.uid for a in r.release(1003.0)] == [_act(t, n).uid for t, n in
                                                  ((1, 1), (2, 3), (3, 4))]
    assert r.late == 0


def test_an_expected_sensor_never_heard_stops_holding_back_after_idle_after() -> None:
    r = Reorder(idle_after=20.0, expect=2, started=1000.0)
    r.add_batch("site/a", 1, [_act(1, 1)], 1001.0)
    r.mark("site/a", Mark("a", 0, T0 + timedelta(seconds=9), False), 1001.0)
    assert list(r.release(1019.0)) == []
    assert [a.uid for a in r.release(1020.5)] == [_act(1, 1).uid]
    restored = pickle.loads(pickle.dumps(r))
    assert (restored.expect, restored.started) == (2, 1000.0)
