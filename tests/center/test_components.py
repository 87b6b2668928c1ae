"""The parts of a live deployment, without servers: spool, tail, parser, reorder buffer,
center checkpoint/restore and health issues."""

from __future__ import annotations

import os
import pickle
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from tests.center.harness import DATA

from dcwatch.bus.spool import Spool
from dcwatch.bus.wire import Envelope, Mark, activity_envelope, batch_envelopes
from dcwatch.center.reorder import Reorder
from dcwatch.center.runner import Center, CenterOptions
from dcwatch.center.state import list_issues
from dcwatch.intake.parse import RecordParser
from dcwatch.intake.tail import FileTail
from dcwatch.model.activity import Activity, ActivityKind, Origin
from dcwatch.pipeline import ActivityStream

T0 = datetime(2026, 1, 1, tzinfo=UTC)
SAMBA = DATA / "recordings" / "killchain" / "samba-audit.jsonl"
EVENTS = DATA / "demo" / "killchain.jsonl"


def _act(sec: float, n: int = 0) -> Activity:
    return Activity(T0 + timedelta(seconds=sec), ActivityKind.LOGON, Origin("t", n),
                    host="dc1", src_ip=f"10.0.0.{n % 250}")


def test_spool_keeps_order_drops_oldest_past_its_bound_and_counts(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "sp", max_bytes=40_000, segment_bytes=10_000)
    envs = [activity_envelope("s", "x", i, _act(i, i)) for i in range(400)]
    for i in range(0, 400, 20):
        sp.append(envs[i:i + 20])
    assert sp.dropped > 0
    assert sp.size() <= 40_000 + 10_000
    got = []
    while (o := sp.oldest()) is not None:
        got += o[1]
        sp.remove(o[0])
    seqs = [int(e.headers["Dcw-Seq"]) for e in got]
    assert seqs == sorted(seqs)
    assert seqs[-1] == 399
    assert len(got) + sp.dropped == 400  # nothing vanished uncounted
    assert Spool(tmp_path / "sp").dropped == sp.dropped  # the count survives a restart


def test_spool_skips_a_line_cut_short_by_a_crash(tmp_path: Path) -> None:
    sp = Spool(tmp_path / "sp")
    sp.append([activity_envelope("s", "x", 1, _act(1))])
    sp.close()
    seg = sp.segments()[0]
    seg.write_bytes(seg.read_bytes() + b'["dcwatch.s.activities", {"Nats')
    sp2 = Spool(tmp_path / "sp")
    _, envs = sp2.oldest()  # type: ignore[misc]
    assert len(envs) == 1
    assert sp2.corrupt == 1


def test_parser_gives_the_uids_scan_gives() -> None:
    want = [a.uid for a in ActivityStream([str(SAMBA), str(EVENTS)])]
    lines = SAMBA.read_bytes().split(b"\n")
    p = RecordParser(str(SAMBA))
    got = p.lines(lines[:10]) + p.lines(lines[10:])  # chunk boundaries do not matter
    q = RecordParser(str(EVENTS))
    got += q.document(EVENTS.read_bytes())
    assert sorted(a.uid for a in got) == sorted(want)


def _follow(tail: FileTail, out: list[Activity], stop: threading.Event) -> threading.Thread:
    def emit(acts, on_durable) -> None:
        out.extend(acts)
        if on_durable:
            on_durable()

    th = threading.Thread(target=tail.run, args=(emit, stop.is_set), daemon=True)
    th.start()
    return th


def _until(cond, timeout: float = 5.0) -> None:
    end = time.monotonic() + timeout
    while not cond() and time.monotonic() < end:
        time.sleep(0.02)
    assert cond()


@pytest.mark.parametrize("how", ["rename", "copytruncate"])
def test_tail_follows_rotation_and_resumes_after_restart(tmp_path: Path, how: str) -> None:
    lines = SAMBA.read_bytes().splitlines(keepends=True)
    want = {a.uid for a in ActivityStream([str(SAMBA)])}
    log = tmp_path / "audit.log"
    header = b"[2026/01/01 00:00:00.000000,  3] ../../auth/auth_log.c:123(log_json)\n"
    log.write_bytes(b"".join(lines[:10]) + header)
    out: list[Activity] = []
    stop = threading.Event()
    tail = FileTail(str(log), tmp_path / "pos.json", poll=0.02)
    th = _follow(tail, out, stop)
    _until(lambda: tail.at_eof and out)
    with log.open("ab") as f:
        f.write(lines[10][:20])  # half a line: not read until whole
    time.sleep(0.1)
    with log.open("ab") as f:
        f.write(lines[10][20:] + b"".join(lines[11:16]))
    _until(lambda: tail.at_eof and len({a.uid for a in out}) >= 1)
    time.sleep(0.2)
    if how == "rename":
        os.rename(log, tmp_path / "audit.log.1")
        log.write_bytes(b"")
    else:
        shutil.copy(log, tmp_path / "audit.log.1")
        log.write_bytes(b"")
    _until(lambda: tail.rotations == 1)
    stop.set()
    th.join(5)
    # Restarted: the new file from where it was (its own line numbers), nothing twice.
    log.write_bytes(b"".join(lines[16:]))
    stop2 = threading.Event()
    tail2 = FileTail(str(log), tmp_path / "pos.json", poll=0.02)
    th2 = _follow(tail2, out, stop2)
    _until(lambda: tail2.at_eof and tail2.stats.records >= len(lines) - 16)
    stop2.set()
    th2.join(5)
    first = [a for a in out if a.origin.record is not None]
    assert len(first) == len({a.uid for a in first})  # no line read twice
    # Lines 1-16 were scanned as one file; the rest as another (line numbers restart), so
    # compare with a scan of the same two files.
    part1 = tmp_path / "p1.jsonl"
    part1.write_bytes(b"".join(lines[:10]) + header + b"".join(lines[10:16]))
    part2 = tmp_path / "p2.jsonl"
    part2.write_bytes(b"".join(lines[16:]))
    expect = {a.uid for a in ActivityStream([str(part1)])} | \
        {a.uid for a in ActivityStream([str(part2)])}
    assert {a.uid for a in out} == expect
    assert len(want) > 0


def test_reorder_releases_in_scan_order_once_watermarks_pass() -> None:
    r = Reorder(idle_after=60)
    now = time.time()
    mark = lambda s, sec, eof=False: Mark(s, 0, T0 + timedelta(seconds=sec), eof)  # noqa: E731
    r.mark("site/b", mark("b", 0), now)
    r.add("site/a", 1, _act(5, 1), now)
    r.add("site/a", 2, _act(7, 2), now)
    r.add("site/b", 1, _act(6, 3), now)
    r.add("site/b", 2, _act(5, 4), now)  # same time as a's first: a sorts first
    assert list(r.release(now)) == []  # a has sent no mark yet
    r.mark("site/a", mark("a", 8), now)
    assert list(r.release(now)) == []  # b's watermark is still 0
    r.mark("site/b", mark("b", 6.5), now)
    got = [(a.ts - T0).total_seconds() for a in r.release(now)]
    assert got == [5, 5, 6]
    r.add("site/b", 3, _act(5.5, 5), now)  # behind what was released: late, still processed
    r.mark("site/b", mark("b", 9, eof=True), now)
    assert [(a.ts - T0).total_seconds() for a in r.release(now)] == [5.5, 7]
    assert r.late == 1
    r.add("site/a", 3, _act(7, 2), now)  # a duplicate of an activity already processed
    r.mark("site/a", mark("a", 9, eof=True), now)
    assert list(r.release(now)) == []
    assert r.duplicates == 1
    assert r.all_eof(2)
    r2 = pickle.loads(pickle.dumps(r))
    assert r2.late == 1
    assert r2.sensors.keys() == r.sensors.keys()


def test_a_silent_sensor_stops_holding_the_others_back() -> None:
    r = Reorder(idle_after=5)
    now = time.time()
    r.add("site/quiet", 1, _act(1), now - 10)
    r.mark("site/talky", Mark("talky", 1, T0 + timedelta(seconds=100)), now)
    r.add("site/talky", 2, _act(50, 1), now)
    assert len(list(r.release(now))) == 2


def _msg(stream_seq: int, env: Envelope, stored: datetime | None = None) -> SimpleNamespace:
    meta = SimpleNamespace(sequence=SimpleNamespace(stream=stream_seq), stream="DCWATCH_lab",
                           timestamp=stored or datetime.now(UTC))
    return SimpleNamespace(metadata=meta, subject=env.subject, headers=env.headers,
                           data=env.body)


def test_center_checkpoint_restores_state_and_skips_redeliveries(tmp_path: Path) -> None:
    acts = list(ActivityStream([str(EVENTS)]))
    envs = [activity_envelope("lab", "s0", i, a) for i, a in enumerate(acts)]
    eof = Mark("s0", 999, acts[-1].ts, True, {"spool_dropped": 3, "capture_drops": 2,
                                               "late": 4})
    sent = datetime.now(UTC) - timedelta(minutes=5)  # a sensor clock 5 minutes slow
    eof_env = eof.envelope("lab")
    eof_env.headers["Dcw-Sent"] = sent.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    msgs = [_msg(i + 1, e) for i, e in enumerate(envs)] + [_msg(len(envs) + 1, eof_env)]
    db = str(tmp_path / "c.db")
    opts = CenterOptions(["lab"], db, mode="forensic")
    # One pass, no restart: the reference.
    ref = Center(CenterOptions(["lab"], str(tmp_path / "ref.db"), mode="forensic"))
    for m in msgs:
        ref.handle("lab", m, time.time())
    ref.process_released(time.time())
    ref.engine.finish()
    ref.checkpoint()
    # Half, checkpoint, "crash" (the rest is lost), restart, redelivery of everything.
    c = Center(opts)
    half = len(msgs) // 2
    for m in msgs[:half]:
        c.handle("lab", m, time.time())
    c.process_released(time.time())
    c.checkpoint()
    for m in msgs[half:half + 3]:
        c.handle("lab", m, time.time())  # processed but never checkpointed
    c2 = Center(opts)
    assert c2.restored
    assert c2.positions == {"DCWATCH_lab": half}
    for m in msgs:
        c2.handle("lab", m, time.time())
    assert c2.redelivered == half
    c2.process_released(time.time())
    c2.engine.finish()
    c2.checkpoint()
    from tests.center.harness import alert_table

    assert alert_table(db) == alert_table(str(tmp_path / "ref.db"))
    assert len(alert_table(db)) > 0
    kinds = {i["kind"]: i for i in list_issues(c2.store)}
    assert {"spool_drops", "capture_drops", "clock_skew", "late_activities"} <= kinds.keys()
    assert kinds["clock_skew"]["detail"]["seconds"] > 250
    late = kinds["late_activities"]  # the sensor's own count, named: raise its --lateness
    assert (late["sensor"], late["detail"]["total"]) == ("s0", 4)
    assert "--lateness" in late["description"]


def test_silent_sensor_and_lag_become_health_issues(tmp_path: Path) -> None:
    c = Center(CenterOptions(["lab"], str(tmp_path / "h.db"), silent_after=1, lag_after=5))
    old = datetime.now(UTC) - timedelta(seconds=60)
    c.handle("lab", _msg(1, Mark("dc1", 1, T0).envelope("lab"), stored=old), time.time() - 30)
    c._periodic_health(time.time())
    c.checkpoint()
    kinds = {(i["kind"], i["sensor"]) for i in list_issues(c.store)}
    assert ("sensor_silent", "dc1") in kinds
    assert ("bus_lag", "") in kinds
    # Heard again: the issue closes.
    c.handle("lab", _msg(2, Mark("dc1", 2, T0).envelope("lab")), time.time())
    c.checkpoint()
    assert ("sensor_silent", "dc1") not in {(i["kind"], i["sensor"])
                                            for i in list_issues(c.store)}
    assert any(i["status"] == "closed" for i in list_issues(c.store, None))


def test_batch_messages_and_activities_sent_again_in_other_batches(tmp_path: Path) -> None:
    # Sensors send batches; a restarted sensor (or a client retry) sends activities again in
    # batches grouped otherwise, so the bus cannot drop them: the center does, by uid, even
    # once their time was processed (late).
    acts = list(ActivityStream([str(EVENTS)]))
    half = len(acts) // 2
    envs = batch_envelopes("lab", "s0", 1, acts[:half]) + \
        batch_envelopes("lab", "s0", half + 1, acts[half:])
    again = batch_envelopes("lab", "s0", 1, acts[:half + 5])  # other grouping, other ids
    assert {e.headers["Nats-Msg-Id"] for e in again}.isdisjoint(
        e.headers["Nats-Msg-Id"] for e in envs)
    eof = Mark("s0", 10_000, acts[-1].ts, True).envelope("lab")
    first = batch_envelopes("lab", "s0", 1, acts[:half])
    mark = Mark("s0", 9_999, acts[half].ts).envelope("lab")  # releases the first half
    c = Center(CenterOptions(["lab"], str(tmp_path / "b.db"), mode="forensic"))
    for n, e in enumerate([*first, mark, *again, *envs[len(first):], eof], 1):
        c.handle("lab", _msg(n, e), time.time())
        c.process_released(time.time())
    c.engine.finish()
    c.checkpoint()
    ref = Center(CenterOptions(["lab"], str(tmp_path / "ref.db"), mode="forensic"))
    for i, e in enumerate([activity_envelope("lab", "s0", i, a) for i, a in enumerate(acts)]):
        ref.handle("lab", _msg(i + 1, e), time.time())
    ref.handle("lab", _msg(len(acts) + 1, eof), time.time())
    ref.process_released(time.time())
    ref.engine.finish()
    ref.checkpoint()
    from tests.center.harness import alert_table

    assert c.processed == len(acts)
    assert c.reorder.duplicates == half + 5
    assert c.reorder.late == 0  # dropped on arrival: duplicates, not late
    assert alert_table(str(tmp_path / "b.db")) == alert_table(str(tmp_path / "ref.db"))


def test_messages_missing_in_delivery_are_read_again_not_skipped(tmp_path: Path) -> None:
    # A connection dropped with messages in flight (nats-server cuts a slow consumer): they
    # come back only after ack_wait, after later ones. The center must not move past them.
    acts = list(ActivityStream([str(EVENTS)]))
    k = len(acts) // 3
    envs = [batch_envelopes("lab", "s0", i + 1, acts[i:i + k])[0] for i in (0, k, 2 * k)]
    c = Center(CenterOptions(["lab"], str(tmp_path / "g.db"), mode="forensic"))
    c.handle("lab", _msg(1, envs[0]), time.time())
    c.handle("lab", _msg(3, envs[2]), time.time())  # 2 went missing
    assert c._gaps == {"lab"}
    assert c.positions == {"DCWATCH_lab": 1}
    assert c.reorder.sensors["lab/s0"].activities == k
    c._gaps.clear()  # the consumer is re-created at position 2 (Center._rebind)
    for n in (2, 3):
        c.handle("lab", _msg(n, envs[n - 1]), time.time())
    assert c.positions == {"DCWATCH_lab": 3}
    assert c.reorder.sensors["lab/s0"].activities == 3 * k
    assert c.redelivered == 0
