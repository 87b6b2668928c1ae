"""Store operations over SQLAlchemy Core: idempotent alert upserts and queries.

Re-ingesting the same data creates no duplicate: alert ids are deterministic, activities are
keyed by their stable uid, and a new alert of the same type and key as an open alert whose last
activity is within the detector's update window is folded into it (the MDI "update" trigger),
also across runs.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    any_,
    bindparam,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    tuple_,
    update,
)
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

    def save_alerts(self, alerts: Iterable[Alert], windows: dict[str, timedelta] | None = None,
                    *, linked: dict[str, tuple[str, set[str]]] | None = None) -> list[str]:
        """Upsert alerts; returns the stored ids (an alert folded into an older one gets its id).

        One transaction, and a bounded number of round trips per table whatever the batch size:
        the rows the batch can touch are read up front (by id, and the open rows of the same
        type and key), the alerts are folded in order against that in-memory view (so a later
        alert of the batch sees what an earlier one wrote, as one-by-one saves would), and the
        writes go out as executemany inserts/updates.

        ``linked`` (optional, kept up to date by this call) caches, per alert id, the stored row
        the alert went into and the activity uids already linked to it: a caller that saves the
        same growing alerts again and again (the center) then checks only their new activities.
        """
        windows = windows or {}
        batch = list(alerts)
        if not batch:
            return []
        with self.engine.begin() as c:
            return _Batch(self, c, windows, linked).run(batch)

    def _insert_ignore(self, table: Any) -> Any:
        """INSERT that skips rows whose key exists (a concurrent writer got there first)."""
        name = self.engine.dialect.name
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(table).on_conflict_do_nothing()
        if name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(table).on_conflict_do_nothing()
        return insert(table)  # the existence checks cover a single writer

    # --- entities -----------------------------------------------------------------------------

    def save_entities(self, rows: list[dict[str, Any]]) -> int:
        """Upsert what the data taught about entities (tags and addresses are merged).

        Rows are merged in order (a later row of the same entity merges into what the earlier
        one wrote); the existing rows are read in bulk and the writes go out as executemany."""
        now = datetime.now(UTC)
        e = t.entities
        state: dict[tuple[str, str], dict[str, Any]] = {}  # entity -> its row as it now stands
        inserts: dict[tuple[str, str], dict[str, Any]] = {}
        updates: dict[tuple[str, str], dict[str, Any]] = {}
        with self.engine.begin() as c:
            keys = list(dict.fromkeys((r["kind"], r["name"]) for r in rows))
            for chunk in _chunks(keys):
                for row in c.execute(select(e).where(tuple_(e.c.kind, e.c.name).in_(chunk))
                                     ).mappings():
                    state[(row["kind"], row["name"])] = {**row, "_rt": True}
            for r in rows:
                key = (r["kind"], r["name"])
                old = state.get(key)
                last = r.get("last_seen") or now
                if old is None:
                    state[key] = inserts[key] = {
                        "kind": key[0], "name": key[1], "sid": r.get("sid"),
                        "fqdn": r.get("fqdn"), "ips": r.get("ips"), "tags": r.get("tags") or [],
                        "evidence": r.get("evidence"), "first_seen": _naive(last),
                        "last_seen": _naive(last), "_rt": False}
                    continue
                if not old["_rt"]:  # as a one-by-one upsert would read it back
                    old["ips"], old["tags"] = _json_rt(old["ips"]), _json_rt(old["tags"])
                    old["_rt"] = True
                tags = list(dict.fromkeys((old["tags"] or []) + (r.get("tags") or [])))
                if "domain-controller" in tags and "not-a-dc" in tags:
                    tags.remove("not-a-dc")  # a DC shown later wins over an earlier guess
                ips = r.get("ips")
                if isinstance(ips, list) and isinstance(old["ips"], list):
                    ips = sorted(set(ips) | set(old["ips"]))
                old.update(
                    sid=r.get("sid") or old["sid"], fqdn=r.get("fqdn") or old["fqdn"],
                    ips=ips if ips is not None else old["ips"], tags=tags,
                    evidence=r.get("evidence") or old["evidence"],
                    last_seen=_naive(max(_aware(old["last_seen"]) or last, last)), _rt=False)
                if key not in inserts:
                    updates[key] = old
            if inserts:
                c.execute(insert(e), [{k: v for k, v in x.items() if k != "_rt"}
                                      for x in inserts.values()])
            if updates:
                cols = ("sid", "fqdn", "ips", "tags", "evidence", "last_seen")
                stmt = update(e).where(e.c.kind == bindparam("b_kind"),
                                       e.c.name == bindparam("b_name")).values(
                    {k: bindparam(f"b_{k}", type_=e.c[k].type) for k in cols})
                c.execute(stmt, [{"b_kind": x["kind"], "b_name": x["name"],
                                  **{f"b_{k}": x[k] for k in cols}} for x in updates.values()])
        return len(rows)

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


_CHUNK = 500  # IN-list size (SQLite's bound-parameter limit is 32766 since 3.32, 999 before)
_ALERT_COLS = ("description", "first_seen", "last_seen", "evidence", "count", "severity",
               "updated_at")


def _chunks(xs: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for i in range(0, len(xs), size):
        yield xs[i:i + size]


def _json_rt(v: Any) -> Any:
    """``v`` as it reads back from a JSON column."""
    return json.loads(json.dumps(v))


def _in(pg: bool, col: Any, values: list[Any], name: str = "in_values") -> Any:
    """``col IN values``; on PostgreSQL ``col = ANY(:array)``, one parameter whatever the
    number of values (an expanding IN costs SQLAlchemy a bound parameter per value)."""
    if pg:
        from sqlalchemy.dialects.postgresql import ARRAY

        return col == any_(bindparam(name, values, type_=ARRAY(col.type)))
    return col.in_(values)


class _Batch:
    """One ``save_alerts`` call: reads up front, folds in memory, writes in bulk."""

    def __init__(self, store: Store, c: Any, windows: dict[str, timedelta],
                 linked: dict[str, tuple[str, set[str]]] | None) -> None:
        self.store, self.c, self.windows, self.linked = store, c, windows, linked
        self.now = datetime.now(UTC)
        self.pg = store.engine.dialect.name == "postgresql"
        self.chunk = 10_000 if self.pg else _CHUNK
        self.rows: dict[str, dict[str, Any]] = {}  # alert rows by id, as they now stand
        self.by_tk: dict[tuple[str, str], list[dict[str, Any]]] = {}  # open rows by type, key
        self.inserts: dict[str, dict[str, Any]] = {}
        self.updates: dict[str, dict[str, Any]] = {}
        self.links: set[tuple[str, str]] = set()  # (alert id, activity uid) known to exist
        self.links_loaded: set[str] = set()  # uids whose links were read
        self.acts: set[str] = set()  # activity uids known to exist
        self.acts_loaded: set[str] = set()
        self.ents: set[tuple[str, str, str, str]] = set()
        self.ents_loaded: set[str] = set()  # alert ids whose entities were read
        self.new_acts: list[dict[str, Any]] = []
        self.new_links: list[dict[str, str]] = []
        self.new_ents: list[dict[str, Any]] = []

    def window(self, a: Alert) -> timedelta:
        return self.windows.get(a.type, timedelta(hours=24))

    # --- reads --------------------------------------------------------------------------------

    def _add_row(self, r: Any) -> None:
        if r["id"] in self.rows:
            return
        row = dict(r)
        row["first_seen"], row["last_seen"] = _aware(row["first_seen"]), _aware(row["last_seen"])
        row["_rt"] = True  # evidence is as read back from the database
        self.rows[row["id"]] = row
        if row["status"] == Status.OPEN.value:
            self.by_tk.setdefault((row["type"], row["key"]), []).append(row)

    def load_rows(self, batch: list[Alert]) -> None:
        a_ = t.alerts
        for chunk in _chunks(list(dict.fromkeys(a.id for a in batch)), self.chunk):
            for r in self.c.execute(select(a_).where(_in(self.pg, a_.c.id, chunk))).mappings():
                self._add_row(r)
        rest = [a for a in batch if a.id not in self.rows]
        if not rest:
            return
        lo = min(a.first_seen - self.window(a) for a in rest)
        hi = max(a.last_seen + self.window(a) for a in rest)
        pairs = list(dict.fromkeys((a.type, a.key) for a in rest))
        for chunk in _chunks(pairs, self.chunk):
            if self.pg:  # keys = ANY(array), the pairs picked here
                want = set(chunk)
                match = and_(_in(True, a_.c.key, list({k for _, k in chunk}), "keys"),
                             _in(True, a_.c.type, list({ty for ty, _ in chunk}), "types"))
            else:
                want, match = None, tuple_(a_.c.type, a_.c.key).in_(chunk)
            q = select(a_).where(match, a_.c.status == Status.OPEN.value,
                                 a_.c.last_seen >= _naive(lo), a_.c.first_seen <= _naive(hi))
            for r in self.c.execute(q).mappings():
                if want is None or (r["type"], r["key"]) in want:
                    self._add_row(r)

    def load_links(self, uids: Iterable[str]) -> None:
        want = [u for u in dict.fromkeys(uids) if u not in self.links_loaded]
        if not want:
            return
        aa = t.alert_activities
        for chunk in _chunks(want, self.chunk):
            for r in self.c.execute(select(aa.c.alert_id, aa.c.activity_uid)
                                    .where(_in(self.pg, aa.c.activity_uid, chunk))):
                self.links.add((r[0], r[1]))
                # a linked activity exists (foreign key): only the others need a look
                self.acts.add(r[1])
                self.acts_loaded.add(r[1])
        self.links_loaded.update(want)

    def load_acts(self, uids: Iterable[str]) -> None:
        want = [u for u in dict.fromkeys(uids) if u not in self.acts_loaded]
        if not want:
            return
        for chunk in _chunks(want, self.chunk):
            self.acts.update(r[0] for r in self.c.execute(
                select(t.activities.c.uid).where(_in(self.pg, t.activities.c.uid, chunk))))
        self.acts_loaded.update(want)

    def load_ents(self, aids: Iterable[str]) -> None:
        want = [x for x in dict.fromkeys(aids) if x not in self.ents_loaded]
        if not want:
            return
        ae = t.alert_entities
        for chunk in _chunks(want, self.chunk):
            self.ents.update((r[0], r[1], r[2], r[3]) for r in self.c.execute(
                select(ae.c.alert_id, ae.c.kind, ae.c.name, ae.c.role)
                .where(_in(self.pg, ae.c.alert_id, chunk))))
        self.ents_loaded.update(want)

    def _cached(self, a: Alert) -> tuple[str, set[str]] | None:
        return self.linked.get(a.id) if self.linked is not None else None

    def prefetch(self, batch: list[Alert]) -> None:
        """Read, in bulk, what the fold will most likely need (the rest is read on demand)."""
        uids: list[str] = []
        aids: set[str] = set()
        for a in batch:
            hit = self._cached(a)
            skip = hit[1] if hit else ()
            uids.extend(x.uid for x in a.activities if x.uid not in skip)
            if a.id in self.rows:
                aids.add(a.id)
            elif hit:
                aids.add(hit[0])
            else:
                best = self._match(a)
                aids.add(best["id"] if best is not None else a.id)
        self.load_links(uids)
        self.load_acts(uids)
        self.load_ents(aids)

    # --- the fold -----------------------------------------------------------------------------

    def _match(self, a: Alert) -> dict[str, Any] | None:
        w = self.window(a)
        lo, hi = a.first_seen - w, a.last_seen + w
        best = None
        for r in self.by_tk.get((a.type, a.key), ()):
            if r["last_seen"] >= lo and r["first_seen"] <= hi and \
                    (best is None or r["last_seen"] > best["last_seen"]):
                best = r
        return best

    def run(self, batch: list[Alert]) -> list[str]:
        self.load_rows(batch)
        self.prefetch(batch)
        out = [self.save(a) for a in batch]
        self.flush()
        if self.linked is not None:
            for a, aid in zip(batch, out, strict=True):
                self.linked[a.id] = (aid, {x.uid for x in a.activities})
        return out

    def save(self, a: Alert) -> str:
        now = self.now
        row = self.rows.get(a.id)
        if row is None:
            row = self._match(a)
        acts = a.activities
        if row is None:
            row = {"id": a.id, "type": a.type, "external_id": a.external_id, "title": a.title,
                   "description": a.description, "severity": a.severity.value,
                   "phase": a.phase.value, "status": a.status.value,
                   "first_seen": a.first_seen, "last_seen": a.last_seen, "key": a.key,
                   "count": a.count, "mitre": list(a.mitre), "evidence": a.evidence,
                   "created_at": now, "updated_at": now, "_rt": False}
            self.rows[a.id] = self.inserts[a.id] = row
            if row["status"] == Status.OPEN.value:
                self.by_tk.setdefault((a.type, a.key), []).append(row)
            aid = a.id
        else:
            aid = row["id"]
            hit = self._cached(a)
            if hit is not None and hit[0] == aid:  # those are linked to this row already
                acts = [x for x in acts if x.uid not in hit[1]]
            self.load_links(x.uid for x in acts)
            new = [x for x in acts if (aid, x.uid) not in self.links]
            if not row["_rt"]:
                row["evidence"], row["_rt"] = _json_rt(row["evidence"]), True
            changed = bool(new) or row["description"] != a.description or \
                row["evidence"] != a.evidence
            if changed:
                evidence = dict(row["evidence"] or {})
                for k, v in a.evidence.items():
                    old = evidence.get(k)
                    evidence[k] = old + [x for x in v if x not in old] if \
                        isinstance(old, list) and isinstance(v, list) else v
                row.update(
                    description=a.description, first_seen=min(row["first_seen"], a.first_seen),
                    last_seen=max(row["last_seen"], a.last_seen), evidence=evidence,
                    count=max(row["count"], a.count) if aid == a.id
                    else row["count"] + (a.count if new else 0),
                    severity=max(row["severity"], a.severity.value, key=_sev_rank),
                    updated_at=now, _rt=False)
                if aid not in self.inserts:
                    self.updates[aid] = row
        self._entities(aid, a.entities)
        self._activities(aid, acts)
        return aid

    def _entities(self, aid: str, ents: list[EntityRef]) -> None:
        if not ents:
            return
        self.load_ents([aid])
        for e in ents:
            k = (aid, e.kind, e.name, e.role)
            if k not in self.ents:
                self.ents.add(k)
                self.new_ents.append({"alert_id": aid, "kind": e.kind, "name": e.name,
                                      "role": e.role, "sid": e.sid, "ip": e.ip})

    def _activities(self, aid: str, acts: list[Activity]) -> None:
        if not acts:
            return
        self.load_links(x.uid for x in acts)
        self.load_acts(x.uid for x in acts)
        for a in acts:
            if a.uid not in self.acts:
                self.acts.add(a.uid)
                self.new_acts.append({
                    "uid": a.uid, "ts": _naive(a.ts), "kind": str(a.kind), "host": a.host,
                    "src_ip": a.src_ip, "dst_ip": a.dst_ip,
                    "actor": str(a.actor) if a.actor else None, "data": a.to_dict()})
            k = (aid, a.uid)
            if k not in self.links:
                self.links.add(k)
                self.new_links.append({"alert_id": aid, "activity_uid": a.uid})

    # --- writes -------------------------------------------------------------------------------

    def flush(self) -> None:
        c, a_ = self.c, t.alerts
        if self.inserts:
            c.execute(insert(a_), [
                {k: (_naive(v) if k in ("first_seen", "last_seen") else v)
                 for k, v in r.items() if k != "_rt"} for r in self.inserts.values()])
        if self.updates:
            stmt = update(a_).where(a_.c.id == bindparam("b_id")).values(
                {k: bindparam(f"b_{k}", type_=a_.c[k].type) for k in _ALERT_COLS})
            c.execute(stmt, [
                {"b_id": r["id"], **{f"b_{k}": (_naive(r[k]) if k in ("first_seen", "last_seen")
                                                 else r[k]) for k in _ALERT_COLS}}
                for r in self.updates.values()])
        ins = self.store._insert_ignore
        if self.new_acts:
            c.execute(ins(t.activities), self.new_acts)
        if self.new_ents:
            c.execute(ins(t.alert_entities), self.new_ents)
        if self.new_links:
            c.execute(ins(t.alert_activities), self.new_links)
