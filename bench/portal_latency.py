"""Portal latency with many alerts: builds a database of N synthetic alerts (bulk inserts),
then times the timeline, filters, alert page, entity page, search and API in process.

    .venv/bin/python bench/portal_latency.py [--alerts 100000] [--db /tmp/portal-bench.db]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from datetime import UTC, datetime, timedelta

from dcwatch.store import Store
from dcwatch.store import schema as t
from dcwatch.store.portal import Portal

PHASES = ["reconnaissance", "credential-access", "lateral-movement",
          "persistence-privilege-escalation", "exfiltration", "other"]


def build(path: str, n: int) -> Store:
    """A store with ``n`` alerts, 3 entities and 2 activities each."""
    if os.path.exists(path):
        os.remove(path)
    st = Store(path)
    t0 = datetime(2024, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    now = datetime.now(UTC)
    batch = 5000
    with st.engine.begin() as c:
        for start in range(0, n, batch):
            alerts, ents, acts, links = [], [], [], []
            for i in range(start, min(n, start + batch)):
                ts = t0 + timedelta(seconds=30 * i)
                aid = f"a{i:09d}"
                user = f"CONTOSO\\user{i % 5000}"
                host = f"WS{i % 2000:04d}"
                alerts.append({
                    "id": aid, "type": "dcsync", "external_id": 2006,
                    "title": "Suspected DCSync attack (replication of directory services)",
                    "description": f"{user} on {host} ran replication requests against DC1.",
                    "severity": ["low", "medium", "high"][i % 3], "phase": PHASES[i % 6],
                    "status": ["open", "open", "closed", "suppressed"][i % 4],
                    "first_seen": ts, "last_seen": ts + timedelta(seconds=5), "key": aid,
                    "count": 2, "mitre": ["T1003.006"],
                    "evidence": {"outcome": "success", "requests": ["Get-Changes-All"]},
                    "created_at": now, "updated_at": now})
                ents += [{"alert_id": aid, "kind": "user", "name": user, "role": "attacker",
                          "sid": f"S-1-5-21-1-2-3-{i % 5000}", "ip": None},
                         {"alert_id": aid, "kind": "computer", "name": host,
                          "role": "source computer", "sid": None, "ip": f"10.1.{i % 250}.7"},
                         {"alert_id": aid, "kind": "computer", "name": "DC1",
                          "role": "target domain controller", "sid": None, "ip": None}]
                for k in range(2):
                    uid = f"u{i:09d}{k}"
                    acts.append({"uid": uid, "ts": ts + timedelta(seconds=k), "kind":
                                 "ds.object_access", "host": "DC1.contoso.local",
                                 "src_ip": f"10.1.{i % 250}.7", "dst_ip": None, "actor": user,
                                 "data": {"uid": uid, "ts": (ts + timedelta(seconds=k)).strftime(
                                     "%Y-%m-%dT%H:%M:%S.%fZ"), "kind": "ds.object_access",
                                     "host": "DC1.contoso.local", "event_id": 4662,
                                     "protocol": "event", "src_ip": f"10.1.{i % 250}.7",
                                     "actor": {"name": f"user{i % 5000}", "domain": "CONTOSO"},
                                     "fields": {"properties": ["1131f6ad"]},
                                     "origin": {"source": "bench", "record": i, "format": ""}}})
                    links.append({"alert_id": aid, "activity_uid": uid})
            c.execute(t.alerts.insert(), alerts)
            c.execute(t.alert_entities.insert(), ents)
            c.execute(t.activities.insert(), acts)
            c.execute(t.alert_activities.insert(), links)
    with st.engine.begin() as c:
        c.exec_driver_sql("ANALYZE")
    return st


def add_background(st: Store, total: int) -> None:
    """Grow the activities table to ``total`` rows (the activity history behind the alerts:
    logons, tickets, file access... that raised nothing), in bulk."""
    with st.engine.connect() as c:
        have = c.exec_driver_sql("SELECT count(*) FROM activities").scalar() or 0
    t0 = datetime(2024, 1, 1, tzinfo=UTC).replace(tzinfo=None)
    kinds = ["logon.success", "kerberos.tgs_request", "smb.file_access", "ldap.search"]
    raw = st.engine.raw_connection()
    try:
        cur = raw.cursor()
        batch = 200_000
        for start in range(have, total, batch):
            rows = []
            for i in range(start, min(total, start + batch)):
                ts = t0 + timedelta(milliseconds=300 * i)
                k = kinds[i % 4]
                iso = ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                rows.append((f"b{i:010d}", ts.isoformat(sep=" "), k, "DC1.contoso.local",
                             f"10.2.{i % 250}.{i % 200}", None, f"CONTOSO\\user{i % 50000}",
                             f'{{"uid":"b{i:010d}","ts":"{iso}","kind":"{k}",'
                             f'"host":"DC1.contoso.local","src_ip":"10.2.{i % 250}.{i % 200}",'
                             f'"actor":{{"name":"user{i % 50000}","domain":"CONTOSO"}},'
                             f'"origin":{{"source":"bench","record":{i},"format":""}}}}'))
            cur.executemany("INSERT INTO activities (uid, ts, kind, host, src_ip, dst_ip, actor, "
                            "data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            raw.commit()
        cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def timeit(fn, repeat: int = 7) -> float:
    """Median wall time in ms."""
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t0) * 1000)
    return statistics.median(out)


def main() -> None:
    """Build (or reuse) the database and print latencies."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--alerts", type=int, default=100_000)
    ap.add_argument("--db", default="/tmp/portal-bench.db")
    ap.add_argument("--reuse", action="store_true")
    ap.add_argument("--activities", type=int, default=0,
                    help="grow the activities table to this many rows (e.g. 10000000)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    st = Store(args.db) if args.reuse and os.path.exists(args.db) else build(args.db, args.alerts)
    if args.activities:
        add_background(st, args.activities)
        with st.engine.connect() as c:
            n = c.exec_driver_sql("SELECT count(*) FROM activities").scalar()
        print(f"activities: {n} rows ({time.perf_counter() - t0:.1f}s)")
    print(f"database: {st.count_alerts()} alerts ({time.perf_counter() - t0:.1f}s)")
    from fastapi.testclient import TestClient

    from dcwatch.web.app import create_app

    p = Portal(st)
    if p.get_user("bench") is None:
        p.add_user("bench", "viewer", "bench-password")
    token = p.create_token("bench", "bench")
    c = TestClient(create_app(st, demo=True))
    h = {"Authorization": f"Bearer {token}"}
    mid = f"a{args.alerts // 2:09d}"
    cases = {
        "timeline (first page)": "/alerts",
        "timeline page 100": "/alerts?offset=5000",
        "timeline status=open severity=high": "/alerts?status=open&severity=high",
        "timeline phase filter": "/alerts?phase=lateral-movement",
        "timeline time window": "/alerts?since=2024-01-10T00:00:00&until=2024-01-11T00:00:00",
        "timeline entity filter": "/alerts?entity=user42",
        "alert page": f"/alerts/{mid}",
        "entity page (DC1, in every alert)": "/entity?kind=computer&name=DC1",
        "entity page (user)": "/entity?kind=user&name=CONTOSO%5Cuser42",
        "search": "/search?q=user4242",
        "API list": "/api/v1/alerts?limit=100",
        "API alert": f"/api/v1/alerts/{mid}",
    }
    for name, url in cases.items():
        r = c.get(url, headers=h if url.startswith("/api") else None)
        assert r.status_code == 200, (url, r.status_code)
        print(f"{name:<40} {timeit(lambda u=url: c.get(u, headers=h)):8.1f} ms")


if __name__ == "__main__":
    main()
