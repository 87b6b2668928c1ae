"""Store: migrations, idempotent upserts, updates of open alerts across runs."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from dcwatch.model.alert import Status
from dcwatch.pipeline import ScanOptions, scan
from dcwatch.store import Store
from dcwatch.store import schema as t
from dcwatch.store.migrations import MIGRATIONS, current_version

DEMO = Path(__file__).resolve().parent / "data" / "demo" / "killchain.jsonl"


def test_migrations_apply_once(tmp_path: Path) -> None:
    db = str(tmp_path / "m.db")
    Store(db)
    s = Store(db)
    with s.engine.connect() as c:
        assert current_version(c) == MIGRATIONS[-1][0]
        rows = list(c.execute(select(t.schema_version)))
    assert len(rows) == len(MIGRATIONS)


def test_rescan_is_idempotent(tmp_path: Path) -> None:
    s = Store(str(tmp_path / "a.db"))
    first = scan(ScanOptions([str(DEMO)])).alerts
    s.save_alerts(first)
    s.save_alerts(scan(ScanOptions([str(DEMO)])).alerts)
    assert s.count_alerts() == len(first)
    with s.engine.connect() as c:
        links = list(c.execute(select(t.alert_activities)))
    assert len(links) == len({(r.alert_id, r.activity_uid) for r in links})
    for a in first:
        stored = s.get_alert(a.id)
        assert stored is not None
        assert len(stored.activities) == len(a.activities)
        assert stored.count == a.count


def test_new_run_updates_open_alert(tmp_path: Path) -> None:
    s = Store(str(tmp_path / "b.db"))
    alerts = scan(ScanOptions([str(DEMO)])).alerts
    dcsync = next(a for a in alerts if a.type == "dcsync")
    s.save_alerts([dcsync])
    # The same attacker again, later, in another run: folded into the open alert.
    later = scan(ScanOptions([str(DEMO)])).alerts
    again = next(a for a in later if a.type == "dcsync")
    for act in again.activities:
        act.ts += timedelta(hours=1)
        act.fields["record_id"] += 100_000  # later records of the same log
        act.uid = ""
        act.uid = act.compute_uid()
    again.id = "otherid"
    again.first_seen += timedelta(hours=1)
    again.last_seen += timedelta(hours=1)
    ids = s.save_alerts([again])
    assert ids == [dcsync.id]
    stored = s.get_alert(dcsync.id)
    assert stored is not None
    assert stored.last_seen == again.last_seen
    assert len(stored.activities) == 2 * len(dcsync.activities)
    assert s.count_alerts() == 1
    # Once closed, recurrence opens a new alert (Azure ATP >= 2.107 behaviour).
    s.set_status(dcsync.id, Status.CLOSED, "true-positive")
    again.id = "third"
    s.save_alerts([again])
    assert s.count_alerts() == 2


def test_delete(tmp_path: Path) -> None:
    s = Store(str(tmp_path / "c.db"))
    alerts = scan(ScanOptions([str(DEMO)])).alerts
    s.save_alerts(alerts)
    assert s.set_status(alerts[0].id, Status.DELETED)
    assert s.get_alert(alerts[0].id) is None
    assert s.count_alerts() == len(alerts) - 1


def test_entities_learned_from_the_data(tmp_path: Path) -> None:
    s = Store(str(tmp_path / "e.db"))
    res = scan(ScanOptions([str(DEMO)]))
    s.save_entities(res.resolver.entity_rows())
    s.save_entities(res.resolver.entity_rows())  # idempotent
    dc = s.get_entity("computer", "DC01")
    assert dc is not None
    assert "domain-controller" in dc["tags"]
    assert dc["fqdn"] == "dc01.contoso.local"
    ws = s.get_entity("ip", "10.0.0.21")
    assert ws is not None
    assert ws["ips"]["computer"] == "WS01"
    admin = s.get_entity("user", "CONTOSO\\da.admin")
    assert admin is not None
    assert admin["sid"].endswith("-1104")
