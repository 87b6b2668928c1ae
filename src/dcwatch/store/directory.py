"""Directory knowledge in the store (migration 5): snapshot objects, memberships, local admins,
lateral-movement sessions, and the activities reports need (saved without an alert link).

A snapshot is saved whole (a full sync replaces it) or merged (an incremental sync upserts the
objects it read and deletes tombstoned ones; the caller passes the merged snapshot).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from dcwatch.entities.directory import DirObject, Snapshot
from dcwatch.model.activity import Activity
from dcwatch.store import schema as t
from dcwatch.store.db import Store


def _naive(v: datetime) -> datetime:
    return v.astimezone(UTC).replace(tzinfo=None)


def _aware(v: datetime) -> datetime:
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


class DirectoryStore:
    """Directory tables of a :class:`Store`."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # --- snapshot -------------------------------------------------------------------------------

    def save_snapshot(self, snap: Snapshot, honeytokens: Iterable[str] = ()) -> int:
        """Replace the stored directory with a snapshot; also upserts the ``entities`` rows."""
        now = datetime.now(UTC)
        honey = {h.strip().lower().rsplit("\\", 1)[-1] for h in honeytokens}
        for o in snap.objects.values():
            if o.name.lower() in honey and "honeytoken" not in o.tags:
                o.tags.append("honeytoken")
        with self.engine.begin() as c:
            old_tags = {r.sid: r.tags or [] for r in c.execute(
                select(t.directory_objects.c.sid, t.directory_objects.c.tags))}
            for o in snap.objects.values():  # manual tags (honeytoken, sensitive) survive syncs
                keep = [x for x in old_tags.get(o.sid, []) if x in ("honeytoken", "sensitive")]
                o.tags = list(dict.fromkeys(o.tags + keep))
            for tbl in (t.directory_objects, t.group_members, t.local_admins):
                c.execute(delete(tbl))
            rows = [{"sid": o.sid, "kind": o.kind, "name": o.name, "domain": o.domain,
                     "dn": o.dn, "uac": o.uac, "admin_count": int(o.admin_count),
                     "spns": o.spns, "primary_group": o.primary_group, "dns_name": o.dns_name,
                     "os": o.os, "description": o.description, "usn": o.usn, "tags": o.tags,
                     "updated_at": now} for o in snap.objects.values()]
            for i in range(0, len(rows), 5000):
                c.execute(insert(t.directory_objects), rows[i:i + 5000])
            mem = [{"group_sid": g, "member_sid": m} for g, ms in snap.members.items()
                   for m in ms]
            for i in range(0, len(mem), 5000):
                c.execute(insert(t.group_members), mem[i:i + 5000])
            adm = [{"computer": comp, "principal_sid": p, "source": snap.source or "directory"}
                   for comp, ps in snap.local_admins.items() for p in ps]
            for i in range(0, len(adm), 5000):
                c.execute(insert(t.local_admins), adm[i:i + 5000])
            self._state(c, "domain", {"domain": snap.domain, "netbios": snap.netbios,
                                      "domain_sid": snap.domain_sid, "source": snap.source,
                                      "synced_at": snap.synced_at,
                                      "highest_usn": snap.highest_usn})
            self._state(c, "trusts", snap.trusts)
        if snap.sessions:
            self.save_sessions(
                (acct, comp, datetime.fromisoformat(ts), how)
                for acct, comp, ts, how in snap.sessions)
        self.store.save_entities(snap.entity_rows(honeytokens))
        return len(snap.objects)

    def _state(self, c: Any, key: str, value: Any) -> None:
        now = datetime.now(UTC)
        st = t.directory_state
        if c.execute(select(st.c.key).where(st.c.key == key)).first() is None:
            c.execute(insert(st).values(key=key, value=value, updated_at=now))
        else:
            c.execute(update(st).where(st.c.key == key).values(value=value, updated_at=now))

    def state(self, key: str) -> Any:
        with self.engine.connect() as c:
            r = c.execute(select(t.directory_state.c.value).where(
                t.directory_state.c.key == key)).first()
            return r[0] if r else None

    def load_snapshot(self) -> Snapshot | None:
        """The stored directory (None when no sync or import ran yet)."""
        dom = self.state("domain")
        if dom is None:
            return None
        snap = Snapshot(dom.get("domain", ""), dom.get("netbios", ""), dom.get("domain_sid", ""),
                        source=dom.get("source", ""), synced_at=dom.get("synced_at", ""),
                        highest_usn=int(dom.get("highest_usn") or 0))
        snap.trusts = self.state("trusts") or []
        with self.engine.connect() as c:
            for r in c.execute(select(t.directory_objects)).mappings():
                snap.objects[r["sid"]] = DirObject(
                    sid=r["sid"], kind=r["kind"], name=r["name"], domain=r["domain"] or "",
                    dn=r["dn"] or "", uac=r["uac"], admin_count=bool(r["admin_count"]),
                    spns=r["spns"] or [], primary_group=r["primary_group"],
                    dns_name=r["dns_name"], os=r["os"], description=r["description"],
                    usn=r["usn"] or 0, tags=r["tags"] or [])
            gm = t.group_members.c
            for g, m in c.execute(select(gm.group_sid, gm.member_sid)):
                snap.members.setdefault(g, set()).add(m)
            for comp, p in c.execute(select(t.local_admins.c.computer,
                                            t.local_admins.c.principal_sid)):
                snap.local_admins.setdefault(comp, set()).add(p)
        return snap

    def tag(self, name: str, tag: str, on: bool = True) -> bool:
        """Add or remove a manual tag (honeytoken, sensitive) on a directory object."""
        snap = self.load_snapshot()
        o = snap.by_name(name) if snap else None
        if o is None:
            return False
        tags = [x for x in o.tags if x != tag] + ([tag] if on else [])
        with self.engine.begin() as c:
            c.execute(update(t.directory_objects).where(t.directory_objects.c.sid == o.sid)
                      .values(tags=tags))
        return True

    # --- sessions (lateral movement) --------------------------------------------------------------

    def save_sessions(self, sessions: Iterable[tuple[str, str, datetime, str]]) -> int:
        """Upsert (account, computer, when, how) sessions."""
        s = t.lmp_sessions
        n = 0
        with self.engine.begin() as c:
            for acct, comp, ts, how in sessions:
                key = (s.c.account == acct, s.c.computer == comp, s.c.how == how)
                row = c.execute(select(s.c.first_seen, s.c.last_seen).where(*key)).first()
                if row is None:
                    c.execute(insert(s).values(account=acct, computer=comp, how=how,
                                               first_seen=_naive(ts), last_seen=_naive(ts)))
                elif _aware(row.last_seen) < ts:
                    c.execute(update(s).where(*key).values(last_seen=_naive(ts)))
                n += 1
        return n

    def sessions(self, since: datetime | None = None) -> list[tuple[str, str, datetime, str]]:
        """Stored sessions (seen at or after ``since``)."""
        s = t.lmp_sessions
        q = select(s.c.account, s.c.computer, s.c.last_seen, s.c.how)
        if since is not None:
            q = q.where(s.c.last_seen >= _naive(since))
        with self.engine.connect() as c:
            return [(r.account, r.computer, _aware(r.last_seen), r.how) for r in c.execute(q)]

    def prune_sessions(self, keep: timedelta, now: datetime | None = None) -> int:
        """Forget sessions last seen before ``now - keep``."""
        cut = (now or datetime.now(UTC)) - keep
        with self.engine.begin() as c:
            return int(c.execute(delete(t.lmp_sessions).where(
                t.lmp_sessions.c.last_seen < _naive(cut))).rowcount or 0)

    # --- activities reports read ------------------------------------------------------------------

    def save_activities(self, acts: Iterable[Activity]) -> int:
        """Store activities without an alert link (the reports' raw material)."""
        acts = list(acts)
        if not acts:
            return 0
        a = t.activities
        n = 0
        with self.engine.begin() as c:
            for i in range(0, len(acts), 500):
                chunk = acts[i:i + 500]
                have = {r[0] for r in c.execute(select(a.c.uid).where(
                    a.c.uid.in_([x.uid for x in chunk])))}
                rows = [{"uid": x.uid, "ts": _naive(x.ts), "kind": str(x.kind), "host": x.host,
                         "src_ip": x.src_ip, "dst_ip": x.dst_ip,
                         "actor": str(x.actor) if x.actor else None, "data": x.to_dict()}
                        for x in dict((y.uid, y) for y in chunk).values() if x.uid not in have]
                if rows:
                    c.execute(insert(a), rows)
                    n += len(rows)
        return n

    def activities(self, kinds: Iterable[str], since: datetime | None = None,
                   until: datetime | None = None, limit: int = 100_000) -> list[Activity]:
        """Stored activities of some kinds in a period, oldest first."""
        a = t.activities.c
        q = select(a.data).where(a.kind.in_(list(kinds)))
        if since is not None:
            q = q.where(a.ts >= _naive(since))
        if until is not None:
            q = q.where(a.ts <= _naive(until))
        with self.engine.connect() as c:
            return [Activity.from_dict(r[0]) for r in c.execute(q.order_by(a.ts).limit(limit))]
