"""Store operations over SQLAlchemy Core: idempotent alert upserts and queries.

Re-ingesting the same data creates no duplicate: alert ids are deterministic, activities are
keyed by their stable uid, and a new alert of the same type and key as an open alert whose last
activity is within the detector's update window is folded into it (the MDI "update" trigger),
also across runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, create_engine, delete, event, func, insert, select, update
from sqlalchemy.engine import Engine as SqlEngine
from sqlalchemy.exc import SQLAlchemyError

from dcwatch.errors import StoreError
from dcwatch.model.activity import Activity
from dcwatch.model.alert import Alert, EntityRef, Phase, Severity, Status
from dcwatch.sources.base import SourceStats
from dcwatch.store import migrations
from dcwatch.store import schema as t


def _url(target: str) -> str:
    if "://" in target:
        return target
    return f"sqlite:///{os.path.abspath(target)}" if target != ":memory:" else "sqlite://"


def _aware(v: datetime | None) -> datetime | None:
    if v is None:
        return None
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def _naive(v: datetime) -> datetime:
    return v.astimezone(UTC).replace(tzinfo=None)


class Store:
    """A dcwatch database (a SQLite file by default, or any SQLAlchemy URL)."""

    def __init__(self, target: str) -> None:
        self.url = _url(target)
        try:
            self.engine: SqlEngine = create_engine(self.url, future=True)
            if self.url.startswith("sqlite"):
                event.listen(self.engine, "connect", _sqlite_pragmas)
            elif self.url.startswith("postgresql"):
                event.listen(self.engine, "connect", _postgres_session)
            with self.engine.begin() as conn:
                migrations.upgrade(conn)
        except SQLAlchemyError as e:
            raise StoreError(f"cannot open store {target}: {e.__class__.__name__}: "
                             f"{str(e).splitlines()[0]}") from None

    # --- sources ------------------------------------------------------------------------------

    def begin_source(self, name: str) -> int:
        """Record that an input is being ingested; returns its row id."""
        with self.engine.begin() as c:
            r = c.execute(insert(t.sources).values(name=name, status="running",
                                                   started_at=datetime.now(UTC)))
            return int(r.inserted_primary_key[0])  # type: ignore[index]

    def finish_source(self, row: int, st: SourceStats) -> None:
        """Record the counters of an ingested input."""
        with self.engine.begin() as c:
            c.execute(update(t.sources).where(t.sources.c.id == row).values(
                format=st.format, records=st.records, activities=st.activities,
                unmapped=st.unmapped, skipped=st.skipped, first_error=st.first_error,
                fatal=st.fatal, status="failed" if st.fatal and not st.records else "complete",
                finished_at=datetime.now(UTC)))

    # --- alerts -------------------------------------------------------------------------------

    def save_alerts(self, alerts: Iterable[Alert], windows: dict[str, timedelta] | None = None
                    ) -> list[str]:
        """Upsert alerts; returns the stored ids (an alert folded into an older one gets its id)."""
        windows = windows or {}
        out = []
        with self.engine.begin() as c:
            for a in alerts:
                out.append(self._save(c, a, windows.get(a.type, timedelta(hours=24))))
        return out

    def _save(self, c: Any, a: Alert, window: timedelta) -> str:
        now = datetime.now(UTC)
        row = c.execute(select(t.alerts).where(t.alerts.c.id == a.id)).mappings().first()
        if row is None:
            row = c.execute(select(t.alerts).where(and_(
                t.alerts.c.type == a.type, t.alerts.c.key == a.key,
                t.alerts.c.status == Status.OPEN.value,
                t.alerts.c.last_seen >= _naive(a.first_seen - window),
                t.alerts.c.first_seen <= _naive(a.last_seen + window),
            )).order_by(t.alerts.c.last_seen.desc()).limit(1)).mappings().first()
        if row is None:
            c.execute(insert(t.alerts).values(
                id=a.id, type=a.type, external_id=a.external_id, title=a.title,
                description=a.description, severity=a.severity.value, phase=a.phase.value,
                status=a.status.value, first_seen=_naive(a.first_seen),
                last_seen=_naive(a.last_seen), key=a.key, count=a.count, mitre=list(a.mitre),
                evidence=a.evidence, created_at=now, updated_at=now))
            aid = a.id
        else:
            aid = row["id"]
            known = self._linked(c, aid, [x.uid for x in a.activities])
            new = [x for x in a.activities if x.uid not in known]
            changed = bool(new) or row["description"] != a.description or \
                row["evidence"] != a.evidence
            if changed:
                first = min(_aware(row["first_seen"]), a.first_seen)  # type: ignore[type-var]
                last = max(_aware(row["last_seen"]), a.last_seen)  # type: ignore[type-var]
                evidence = dict(row["evidence"] or {})
                for k, v in a.evidence.items():
                    old = evidence.get(k)
                    evidence[k] = old + [x for x in v if x not in old] if \
                        isinstance(old, list) and isinstance(v, list) else v
                c.execute(update(t.alerts).where(t.alerts.c.id == aid).values(
                    description=a.description, first_seen=_naive(first),
                    last_seen=_naive(last), evidence=evidence,
                    count=max(row["count"], a.count) if aid == a.id
                    else row["count"] + (a.count if new else 0),
                    severity=max(row["severity"], a.severity.value, key=_sev_rank),
                    updated_at=now))
        self._save_entities(c, aid, a.entities)
        self._save_activities(c, aid, a.activities)
        return aid

    def _save_entities(self, c: Any, aid: str, ents: list[EntityRef]) -> None:
        have = {(r.kind, r.name, r.role) for r in c.execute(
            select(t.alert_entities.c.kind, t.alert_entities.c.name, t.alert_entities.c.role)
            .where(t.alert_entities.c.alert_id == aid))}
        rows = []
        for e in ents:
            k = (e.kind, e.name, e.role)
            if k not in have:
                have.add(k)
                rows.append({"alert_id": aid, "kind": e.kind, "name": e.name, "role": e.role,
                             "sid": e.sid, "ip": e.ip})
        if rows:
            c.execute(insert(t.alert_entities), rows)

    @staticmethod
    def _linked(c: Any, aid: str, uids: list[str]) -> set[str]:
        """Which of ``uids`` are already linked to the alert (only those are read back: an
        update of a long-running alert costs what it adds, not what it holds)."""
        out: set[str] = set()
        aa = t.alert_activities
        for i in range(0, len(uids), 500):
            chunk = uids[i:i + 500]
            out.update(r[0] for r in c.execute(select(aa.c.activity_uid).where(
                aa.c.alert_id == aid, aa.c.activity_uid.in_(chunk))))
        return out

    def _save_activities(self, c: Any, aid: str, acts: list[Activity]) -> None:
        if not acts:
            return
        uids = [a.uid for a in acts]
        have = {r[0] for r in c.execute(select(t.activities.c.uid).where(
            t.activities.c.uid.in_(uids)))}
        rows = [{"uid": a.uid, "ts": _naive(a.ts), "kind": str(a.kind), "host": a.host,
                 "src_ip": a.src_ip, "dst_ip": a.dst_ip,
                 "actor": str(a.actor) if a.actor else None, "data": a.to_dict()}
                for a in acts if a.uid not in have]
        if rows:
            c.execute(insert(t.activities), rows)
        linked = self._linked(c, aid, uids)
        links = [{"alert_id": aid, "activity_uid": u} for u in dict.fromkeys(uids)
                 if u not in linked]
        if links:
            c.execute(insert(t.alert_activities), links)

    # --- entities -----------------------------------------------------------------------------

    def save_entities(self, rows: list[dict[str, Any]]) -> int:
        """Upsert what the data taught about entities (tags and addresses are merged)."""
        now = datetime.now(UTC)
        n = 0
        e = t.entities
        with self.engine.begin() as c:
            for r in rows:
                key = (r["kind"], r["name"])
                old = c.execute(select(e).where(e.c.kind == key[0], e.c.name == key[1])
                                ).mappings().first()
                last = r.get("last_seen") or now
                if old is None:
                    c.execute(insert(e).values(
                        kind=key[0], name=key[1], sid=r.get("sid"), fqdn=r.get("fqdn"),
                        ips=r.get("ips"), tags=r.get("tags") or [], evidence=r.get("evidence"),
                        first_seen=_naive(last), last_seen=_naive(last)))
                else:
                    tags = list(dict.fromkeys((old["tags"] or []) + (r.get("tags") or [])))
                    if "domain-controller" in tags and "not-a-dc" in tags:
                        tags.remove("not-a-dc")  # a DC shown later wins over an earlier guess
                    ips = r.get("ips")
                    if isinstance(ips, list) and isinstance(old["ips"], list):
                        ips = sorted(set(ips) | set(old["ips"]))
                    c.execute(update(e).where(e.c.kind == key[0], e.c.name == key[1]).values(
                        sid=r.get("sid") or old["sid"], fqdn=r.get("fqdn") or old["fqdn"],
                        ips=ips if ips is not None else old["ips"], tags=tags,
                        evidence=r.get("evidence") or old["evidence"],
                        last_seen=_naive(max(_aware(old["last_seen"]) or last, last))))
                n += 1
        return n

    def get_entity(self, kind: str, name: str) -> dict[str, Any] | None:
        """One entity row as a dict."""
        e = t.entities
        with self.engine.connect() as c:
            r = c.execute(select(e).where(e.c.kind == kind, e.c.name == name)).mappings().first()
            return dict(r) if r else None

    # --- queries ------------------------------------------------------------------------------

    def list_alerts(self, status: str | None = None, phase: str | None = None,
                    severity: str | None = None, limit: int = 1000, offset: int = 0,
                    with_activities: bool = False) -> list[Alert]:
        """Alerts, newest first, optionally filtered."""
        q = select(t.alerts)
        if status:
            q = q.where(t.alerts.c.status == status)
        if phase:
            q = q.where(t.alerts.c.phase == phase)
        if severity:
            q = q.where(t.alerts.c.severity == severity)
        q = q.order_by(t.alerts.c.last_seen.desc(), t.alerts.c.id).limit(limit).offset(offset)
        with self.engine.connect() as c:
            rows = list(c.execute(q).mappings())
            return [self._load(c, r, with_activities) for r in rows]

    def get_alert(self, alert_id: str) -> Alert | None:
        """One alert with its entities and activities."""
        with self.engine.connect() as c:
            r = c.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).mappings().first()
            return self._load(c, r, True) if r else None

    def count_alerts(self) -> int:
        """Number of alerts stored."""
        with self.engine.connect() as c:
            return int(c.execute(select(func.count()).select_from(t.alerts)).scalar() or 0)

    def set_status(self, alert_id: str, status: Status, classification: str | None = None
                   ) -> bool:
        """Change an alert's status; deleting removes it for good."""
        with self.engine.begin() as c:
            if status is Status.DELETED:
                c.execute(delete(t.alert_activities).where(
                    t.alert_activities.c.alert_id == alert_id))
                c.execute(delete(t.alert_entities).where(t.alert_entities.c.alert_id == alert_id))
                return bool(c.execute(delete(t.alerts).where(t.alerts.c.id == alert_id)).rowcount)
            return bool(c.execute(update(t.alerts).where(t.alerts.c.id == alert_id).values(
                status=status.value, classification=classification,
                status_changed_at=datetime.now(UTC))).rowcount)

    def _load(self, c: Any, r: Any, with_activities: bool) -> Alert:
        ents = [EntityRef(e.kind, e.name, e.role, e.sid, e.ip) for e in c.execute(
            select(t.alert_entities).where(t.alert_entities.c.alert_id == r["id"]))]
        acts: list[Activity] = []
        if with_activities:
            q = select(t.activities.c.data).join(
                t.alert_activities, t.alert_activities.c.activity_uid == t.activities.c.uid
            ).where(t.alert_activities.c.alert_id == r["id"]).order_by(t.activities.c.ts)
            acts = [Activity.from_dict(d[0]) for d in c.execute(q)]
        return Alert(
            id=r["id"], type=r["type"], external_id=r["external_id"], title=r["title"],
            description=r["description"], severity=Severity(r["severity"]),
            phase=Phase(r["phase"]), status=Status(r["status"]),
            first_seen=_aware(r["first_seen"]), last_seen=_aware(r["last_seen"]),  # type: ignore[arg-type]
            key=r["key"], entities=ents, evidence=r["evidence"] or {}, activities=acts,
            count=r["count"], mitre=tuple(r["mitre"] or ()),
        )


def _sev_rank(v: str) -> int:
    return {"low": 0, "medium": 1, "high": 2}.get(v, 0)


def _postgres_session(dbapi_conn: Any, _rec: Any) -> None:
    # Times are written as naive UTC (as SQLite stores them); a timestamptz column reads a naive
    # value in the session's time zone, so the session must be UTC whatever the server's default.
    cur = dbapi_conn.cursor()
    cur.execute("SET TIME ZONE 'UTC'")
    cur.close()
    dbapi_conn.commit()


def _sqlite_pragmas(dbapi_conn: Any, _rec: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()
