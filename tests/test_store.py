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


def _dump(s: Store) -> dict[str, object]:
    """Everything save_alerts writes, but the write times."""
    with s.engine.connect() as c:
        alerts = sorted(tuple((k, v) for k, v in r.items() if k not in ("created_at",
                                                                        "updated_at"))
                        for r in c.execute(select(t.alerts)).mappings())
        ents = sorted(tuple(r) for r in c.execute(select(t.alert_entities)))
        acts = sorted(r[0] for r in c.execute(select(t.activities.c.uid)))
        links = sorted(tuple(r) for r in c.execute(select(t.alert_activities)))
    return {"alerts": alerts, "entities": ents, "activities": acts, "links": links}


def _later(hours: int, tag: str) -> list:
    """The demo's alerts again, ``hours`` later, as a new run would find them (other ids,
    other records): each folds into the open alert of its type and key."""
    out = scan(ScanOptions([str(DEMO)])).alerts
    for a in out:
        for act in a.activities:
            act.ts += timedelta(hours=hours)
            act.fields["record_id"] = f"{act.fields.get('record_id')}{tag}"
            act.uid = ""
            act.uid = act.compute_uid()
        a.id = f"{a.id[:30]}{tag}"
        a.first_seen += timedelta(hours=hours)
        a.last_seen += timedelta(hours=hours)
        a.count += 1
    return out


def test_one_batch_equals_one_by_one(tmp_path: Path) -> None:
    """A batch folds alerts in order against what earlier alerts of the same batch wrote,
    exactly as saving them one at a time does (the batch reads up front, writes at the end)."""
    def alerts() -> list:
        first = scan(ScanOptions([str(DEMO)])).alerts
        again = scan(ScanOptions([str(DEMO)])).alerts  # the same ids: found by id
        for a in again:
            a.description += " (updated)"
            a.evidence = {**a.evidence, "extra": [1, 2]}
        return first + _later(1, "x") + again + _later(2, "y") + _later(48, "z")

    one = Store(str(tmp_path / "one.db"))
    ids_one = [i for a in alerts() for i in one.save_alerts([a])]
    batch = Store(str(tmp_path / "batch.db"))
    ids_batch = batch.save_alerts(alerts())
    assert ids_batch == ids_one
    assert len(set(ids_one)) < len(ids_one)  # folds happened
    assert _dump(batch) == _dump(one)
    # and again on top of what is stored (rows read from the database this time)
    assert batch.save_alerts(alerts()) == one.save_alerts(alerts())
    assert _dump(batch) == _dump(one)


def test_linked_cache_checks_only_new_activities(tmp_path: Path) -> None:
    """The center re-saves growing alerts with a cache of what is linked already; the result
    is what saving the whole alerts again gives, also when the row went away meanwhile."""
    plain, cached = Store(str(tmp_path / "p.db")), Store(str(tmp_path / "c.db"))
    linked: dict[str, tuple[str, set[str]]] = {}
    full = scan(ScanOptions([str(DEMO)])).alerts
    grown = full[0]
    acts = list({x.uid: x for a in full for x in a.activities}.values())[:8]
    assert len(acts) >= 4
    for n in range(1, len(acts) + 1):
        grown.activities = acts[:n]
        grown.count = n
        if n == 2:
            for s in (plain, cached):
                s.set_status(grown.id, Status.DELETED)
        plain.save_alerts([grown])
        cached.save_alerts([grown], linked=linked)
        assert _dump(cached) == _dump(plain)
    assert linked[grown.id] == (grown.id, {a.uid for a in acts})
    stored = cached.get_alert(grown.id)
    assert stored is not None
    assert len(stored.activities) == len(acts)


def test_entities_in_one_call_equal_one_by_one(tmp_path: Path) -> None:
    """save_entities merges repeated entities of one call in order, as separate calls do."""
    from datetime import UTC, datetime

    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [
        {"kind": "computer", "name": "DC01", "ips": ["10.0.0.2"], "tags": ["not-a-dc"],
         "last_seen": t0},
        {"kind": "computer", "name": "WS1", "fqdn": "ws1.contoso.local", "ips": ["10.0.0.9"],
         "last_seen": t0},
        {"kind": "computer", "name": "DC01", "ips": ["10.0.0.1"], "tags": ["domain-controller"],
         "evidence": "issues Kerberos tickets (4768)", "last_seen": t0 + timedelta(hours=1)},
        {"kind": "ip", "name": "10.0.0.1", "ips": {"computer": "DC01", "method": "dns",
                                                  "certainty": 1.0}, "last_seen": t0},
        {"kind": "ip", "name": "10.0.0.1", "ips": {"computer": "DC01", "method": "kerberos",
                                                  "certainty": 0.9}, "tags": ["x"],
         "last_seen": t0 - timedelta(hours=1)},
        {"kind": "computer", "name": "DC01", "sid": "S-1-5-21-1-1000", "tags": ["sensitive"],
         "last_seen": t0},
    ]
    one, batch = Store(str(tmp_path / "e1.db")), Store(str(tmp_path / "e2.db"))
    for r in rows:
        one.save_entities([r])
    assert batch.save_entities(rows) == len(rows)

    def dump(s: Store) -> list:
        with s.engine.connect() as c:
            return sorted(tuple(r) for r in c.execute(select(t.entities)))

    assert dump(batch) == dump(one)
    dc = batch.get_entity("computer", "DC01")
    assert dc is not None
    assert dc["tags"] == ["domain-controller", "sensitive"]
    assert dc["ips"] == ["10.0.0.1", "10.0.0.2"]
    # and again on top of the stored rows
    for r in rows:
        one.save_entities([r])
    batch.save_entities(rows)
    assert dump(batch) == dump(one)
