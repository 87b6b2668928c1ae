"""Portal state over the store: users, sessions, API tokens, comments, audit log, exclusions,
the notification outbox, and the read paths of the web portal (paged, indexed queries).

Every change an analyst makes to an alert goes through here and is written to the audit log in
the same transaction (who, when, what).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, func, insert, or_, select, update

from dcwatch.model.activity import Activity
from dcwatch.model.alert import Alert, EntityRef, Phase, Severity, Status
from dcwatch.store import schema as t
from dcwatch.store.db import Store

ROLES = ("viewer", "analyst", "admin")
CLASSIFICATIONS = ("true-positive", "benign-true-positive", "false-positive")
EXCLUSION_KINDS = ("user", "computer", "ip", "any")
SESSION_TTL = timedelta(hours=12)


def _now() -> datetime:
    return datetime.now(UTC)


def _naive(v: datetime | None) -> datetime | None:
    return None if v is None else v.astimezone(UTC).replace(tzinfo=None)


def _aware(v: datetime | None) -> datetime | None:
    if v is None:
        return None
    return v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


HASH_PARAMS: dict[str, Any] = {}  # argon2 cost overrides (tests lower them)


def _hasher() -> Any:
    from argon2 import PasswordHasher

    return PasswordHasher(**HASH_PARAMS)


@dataclass(frozen=True, slots=True)
class User:
    """A portal user."""

    id: int
    name: str
    role: str
    must_change: bool = False
    disabled: bool = False

    def can(self, role: str) -> bool:
        """Whether this user has at least ``role`` (viewer < analyst < admin)."""
        return ROLES.index(self.role) >= ROLES.index(role)


@dataclass(slots=True)
class AlertView:
    """An alert with the portal's own fields (classification, assignee, status time)."""

    alert: Alert
    classification: str | None = None
    assigned_to: str | None = None
    status_changed_at: datetime | None = None
    updated_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON shape for the API (no activities: they are paged separately)."""
        d = self.alert.to_dict(with_activities=False)
        d["classification"] = self.classification
        d["assigned_to"] = self.assigned_to
        d["status_changed_at"] = _iso(self.status_changed_at)
        return d


@dataclass(slots=True)
class AlertFilter:
    """Timeline / API filters; every field optional."""

    status: str | None = None
    phase: str | None = None
    severity: str | None = None
    type: str | None = None
    entity: str | None = None  # substring of an entity name, IP or SID (case-insensitive)
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None  # substring of title or description
    entity_pairs: list[tuple[str, str]] | None = None  # resolved by Portal (indexed path)

    def conditions(self, *, skip_phase: bool = False) -> list[Any]:
        """SQL conditions on the alerts table."""
        a = t.alerts.c
        out: list[Any] = []
        if self.status:
            out.append(a.status == self.status)
        if self.phase and not skip_phase:
            out.append(a.phase == self.phase)
        if self.severity:
            out.append(a.severity == self.severity)
        if self.type:
            out.append(a.type == self.type)
        if self.since:
            out.append(a.last_seen >= _naive(self.since))
        if self.until:
            out.append(a.first_seen <= _naive(self.until))
        if self.text:
            like = f"%{_like_escape(self.text.lower())}%"
            out.append(or_(func.lower(a.title).like(like, escape="\\"),
                           func.lower(a.description).like(like, escape="\\")))
        if self.entity and self.entity_pairs is not None:
            e = t.alert_entities.c
            out.append(a.id.in_(select(e.alert_id).where(
                pairs_condition(self.entity_pairs or [("", "")]))))
        elif self.entity:
            e = t.alert_entities.c
            like = f"%{_like_escape(self.entity.lower())}%"
            out.append(exists().where(and_(e.alert_id == a.id, or_(
                func.lower(e.name).like(like, escape="\\"), e.ip.like(like, escape="\\"),
                func.lower(e.sid).like(like, escape="\\")))))
        return out


def pairs_condition(pairs: Iterable[tuple[str, str]]) -> Any:
    """alert_entities rows with one of these (kind, name): per-kind IN lists (indexed)."""
    e = t.alert_entities.c
    by_kind: dict[str, list[str]] = {}
    for k, n in pairs:
        by_kind.setdefault(k, []).append(n)
    return or_(*[and_(e.kind == k, e.name.in_(names)) for k, names in by_kind.items()])


def _like_escape(s: str) -> str:
    return s.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _iso(v: datetime | None) -> str | None:
    return None if v is None else v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(slots=True)
class OutboxItem:
    """One pending delivery."""

    id: int
    target: str
    payload: str
    alert_id: str | None
    trigger: str | None
    attempts: int
    last_error: str | None = None


@dataclass(slots=True)
class EntityInfo:
    """What the store knows about one entity: identifiers and counts."""

    kind: str
    name: str
    sids: list[str] = field(default_factory=list)
    ips: list[str] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    alerts: int = 0


class Portal:
    """Portal operations on a :class:`Store` (same database, tables of migration 2)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.engine = store.engine

    # --- users ----------------------------------------------------------------------------------

    def has_users(self) -> bool:
        """Whether any user exists (first start creates an admin otherwise)."""
        with self.engine.connect() as c:
            return c.execute(select(t.users.c.id).limit(1)).first() is not None

    def add_user(self, name: str, role: str, password: str | None = None,
                 must_change: bool = False) -> tuple[User, str]:
        """Create a user; without a password a one-time one is generated (returned)."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        name = name.strip()
        if not name or len(name) > 200:
            raise ValueError("invalid user name")
        if password is None:
            password = secrets.token_urlsafe(12)
            must_change = True
        with self.engine.begin() as c:
            if c.execute(select(t.users.c.id).where(t.users.c.name == name)).first():
                raise ValueError(f"user {name} exists")
            r = c.execute(insert(t.users).values(
                name=name, role=role, password_hash=_hasher().hash(password),
                must_change=int(must_change), disabled=0, created_at=_now()))
            uid = int(r.inserted_primary_key[0])  # type: ignore[index]
        return User(uid, name, role, must_change), password

    def _user(self, row: Any) -> User:
        return User(row.id, row.name, row.role, bool(row.must_change), bool(row.disabled))

    def get_user(self, name: str) -> User | None:
        """A user by name."""
        with self.engine.connect() as c:
            r = c.execute(select(t.users).where(t.users.c.name == name)).first()
            return self._user(r) if r else None

    def list_users(self) -> list[User]:
        """All users, by name."""
        with self.engine.connect() as c:
            return [self._user(r) for r in c.execute(select(t.users).order_by(t.users.c.name))]

    def authenticate(self, name: str, password: str) -> User | None:
        """Check a password (argon2); returns the user or None."""
        from argon2.exceptions import InvalidHashError, VerificationError

        with self.engine.connect() as c:
            r = c.execute(select(t.users).where(t.users.c.name == name)).first()
        ph = _hasher()
        if r is None or r.disabled:
            ph.hash(password)  # same work whether or not the user exists
            return None
        try:
            ph.verify(r.password_hash, password)
        except (VerificationError, InvalidHashError):
            return None
        with self.engine.begin() as c:
            vals: dict[str, Any] = {"last_login": _now()}
            if ph.check_needs_rehash(r.password_hash):
                vals["password_hash"] = ph.hash(password)
            c.execute(update(t.users).where(t.users.c.id == r.id).values(**vals))
        return self._user(r)

    def set_password(self, name: str, password: str, must_change: bool = False) -> bool:
        """Set a user's password; ends the user's sessions."""
        if len(password) < 8:
            raise ValueError("password must have at least 8 characters")
        with self.engine.begin() as c:
            uid = c.execute(select(t.users.c.id).where(t.users.c.name == name)).scalar()
            if uid is None:
                return False
            c.execute(update(t.users).where(t.users.c.id == uid).values(
                password_hash=_hasher().hash(password), must_change=int(must_change)))
            c.execute(delete(t.sessions).where(t.sessions.c.user_id == uid))
            return True

    def set_role(self, name: str, role: str) -> bool:
        """Change a user's role."""
        if role not in ROLES:
            raise ValueError(f"role must be one of {', '.join(ROLES)}")
        with self.engine.begin() as c:
            return bool(c.execute(update(t.users).where(t.users.c.name == name).values(
                role=role)).rowcount)

    def delete_user(self, name: str) -> bool:
        """Remove a user with their sessions and tokens."""
        with self.engine.begin() as c:
            uid = c.execute(select(t.users.c.id).where(t.users.c.name == name)).scalar()
            if uid is None:
                return False
            c.execute(delete(t.sessions).where(t.sessions.c.user_id == uid))
            c.execute(delete(t.api_tokens).where(t.api_tokens.c.user_id == uid))
            c.execute(delete(t.users).where(t.users.c.id == uid))
            return True

    # --- sessions and API tokens ----------------------------------------------------------------

    def create_session(self, user: User, ttl: timedelta = SESSION_TTL) -> tuple[str, str]:
        """Open a session; returns (cookie token, CSRF token). Only hashes are stored."""
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = _now()
        with self.engine.begin() as c:
            c.execute(delete(t.sessions).where(t.sessions.c.expires_at < _naive(now)))
            c.execute(insert(t.sessions).values(token_hash=_hash_token(token), user_id=user.id,
                                                csrf=csrf, created_at=now,
                                                expires_at=_naive(now + ttl)))
        return token, csrf

    def session(self, token: str) -> tuple[User, str] | None:
        """The user and CSRF token of a live session."""
        if not token:
            return None
        q = select(t.users, t.sessions.c.csrf, t.sessions.c.expires_at).join(
            t.sessions, t.sessions.c.user_id == t.users.c.id).where(
            t.sessions.c.token_hash == _hash_token(token))
        with self.engine.connect() as c:
            r = c.execute(q).first()
        if r is None or r.disabled or _aware(r.expires_at) < _now():  # type: ignore[operator]
            return None
        return self._user(r), r.csrf

    def drop_session(self, token: str) -> None:
        """Log out."""
        with self.engine.begin() as c:
            c.execute(delete(t.sessions).where(t.sessions.c.token_hash == _hash_token(token)))

    def create_token(self, user_name: str, label: str) -> str:
        """A new API bearer token for a user (shown once; only its hash is kept)."""
        token = "dcw_" + secrets.token_urlsafe(32)
        with self.engine.begin() as c:
            uid = c.execute(select(t.users.c.id).where(t.users.c.name == user_name)).scalar()
            if uid is None:
                raise ValueError(f"no user {user_name}")
            c.execute(insert(t.api_tokens).values(token_hash=_hash_token(token), user_id=uid,
                                                  label=label, created_at=_now()))
        return token

    def token_user(self, token: str) -> User | None:
        """The user an API token belongs to."""
        q = select(t.users, t.api_tokens.c.id.label("tid")).join(
            t.api_tokens, t.api_tokens.c.user_id == t.users.c.id).where(
            t.api_tokens.c.token_hash == _hash_token(token))
        with self.engine.connect() as c:
            r = c.execute(q).first()
        if r is None or r.disabled:
            return None
        return self._user(r)

    def list_tokens(self) -> list[dict[str, Any]]:
        """API tokens (without secrets)."""
        q = select(t.api_tokens.c.id, t.api_tokens.c.label, t.api_tokens.c.created_at,
                   t.users.c.name.label("user")).join(
            t.users, t.users.c.id == t.api_tokens.c.user_id).order_by(t.api_tokens.c.id)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(q)]

    def revoke_token(self, token_id: int) -> bool:
        """Delete an API token."""
        with self.engine.begin() as c:
            return bool(c.execute(delete(t.api_tokens).where(
                t.api_tokens.c.id == token_id)).rowcount)

    # --- audit and comments ---------------------------------------------------------------------

    def audit(self, actor: str, action: str, alert_id: str | None = None,
              conn: Any = None, **detail: Any) -> None:
        """Append to the audit log."""
        stmt = insert(t.audit_log).values(ts=_now(), actor=actor, action=action,
                                          alert_id=alert_id, detail=detail or None)
        if conn is not None:
            conn.execute(stmt)
            return
        with self.engine.begin() as c:
            c.execute(stmt)

    def audit_entries(self, alert_id: str | None = None, limit: int = 100, offset: int = 0
                      ) -> tuple[list[dict[str, Any]], int]:
        """Audit log, newest first (one alert's, or all)."""
        a = t.audit_log
        cond = [a.c.alert_id == alert_id] if alert_id else []
        with self.engine.connect() as c:
            total = c.execute(select(func.count()).select_from(a).where(*cond)).scalar() or 0
            rows = [dict(r._mapping) for r in c.execute(
                select(a).where(*cond).order_by(a.c.ts.desc(), a.c.id.desc())
                .limit(limit).offset(offset))]
        for r in rows:
            r["ts"] = _aware(r["ts"])
        return rows, int(total)

    def add_comment(self, alert_id: str, author: str, text: str) -> None:
        """Comment on an alert (audited)."""
        text = text.strip()
        if not text:
            raise ValueError("empty comment")
        with self.engine.begin() as c:
            c.execute(insert(t.comments).values(alert_id=alert_id, ts=_now(), author=author,
                                                text=text[:10_000]))
            self.audit(author, "comment", alert_id, conn=c, text=text[:500])

    def comments(self, alert_id: str) -> list[dict[str, Any]]:
        """Comments on an alert, oldest first."""
        with self.engine.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(
                select(t.comments).where(t.comments.c.alert_id == alert_id)
                .order_by(t.comments.c.ts, t.comments.c.id))]
        for r in rows:
            r["ts"] = _aware(r["ts"])
        return rows

    # --- exclusions -----------------------------------------------------------------------------

    def add_exclusion(self, slug: str, kind: str, value: str, author: str,
                      comment: str | None = None, expires: datetime | None = None,
                      alert_id: str | None = None, conn: Any = None) -> int:
        """Add an exclusion (detection slug or ``*``, entity kind, value); audited."""
        if kind not in EXCLUSION_KINDS:
            raise ValueError(f"kind must be one of {', '.join(EXCLUSION_KINDS)}")
        if not value.strip() or not slug.strip():
            raise ValueError("slug and value are required")

        def run(c: Any) -> int:
            r = c.execute(insert(t.exclusions).values(
                slug=slug.strip(), kind=kind, value=value.strip(), expires_at=_naive(expires),
                author=author, comment=comment, alert_id=alert_id, created_at=_now()))
            xid = int(r.inserted_primary_key[0])
            self.audit(author, "exclusion.add", alert_id, conn=c, id=xid, slug=slug, kind=kind,
                       value=value)
            return xid

        if conn is not None:
            return run(conn)
        with self.engine.begin() as c:
            return run(c)

    def list_exclusions(self, limit: int = 1000, offset: int = 0
                        ) -> tuple[list[dict[str, Any]], int]:
        """Exclusions, newest first."""
        x = t.exclusions
        with self.engine.connect() as c:
            total = c.execute(select(func.count()).select_from(x)).scalar() or 0
            rows = [self._excl(r) for r in c.execute(
                select(x).order_by(x.c.id.desc()).limit(limit).offset(offset))]
        return rows, int(total)

    def get_exclusion(self, xid: int) -> dict[str, Any] | None:
        """One exclusion."""
        with self.engine.connect() as c:
            r = c.execute(select(t.exclusions).where(t.exclusions.c.id == xid)).first()
        return self._excl(r) if r else None

    @staticmethod
    def _excl(r: Any) -> dict[str, Any]:
        d = dict(r._mapping)
        d["expires_at"] = _aware(d["expires_at"])
        d["created_at"] = _aware(d["created_at"])
        return d

    def update_exclusion(self, xid: int, actor: str, **changes: Any) -> bool:
        """Change fields of an exclusion (slug, kind, value, comment, expires_at); audited."""
        allowed = {k: v for k, v in changes.items()
                   if k in ("slug", "kind", "value", "comment", "expires_at")}
        if "kind" in allowed and allowed["kind"] not in EXCLUSION_KINDS:
            raise ValueError(f"kind must be one of {', '.join(EXCLUSION_KINDS)}")
        if "expires_at" in allowed:
            allowed["expires_at"] = _naive(allowed["expires_at"])
        if not allowed:
            return self.get_exclusion(xid) is not None
        with self.engine.begin() as c:
            n = c.execute(update(t.exclusions).where(t.exclusions.c.id == xid).values(
                **allowed)).rowcount
            if n:
                self.audit(actor, "exclusion.update", None, conn=c, id=xid,
                           **{k: str(v) for k, v in allowed.items()})
            return bool(n)

    def delete_exclusion(self, xid: int, actor: str) -> bool:
        """Remove an exclusion; audited."""
        with self.engine.begin() as c:
            n = c.execute(delete(t.exclusions).where(t.exclusions.c.id == xid)).rowcount
            if n:
                self.audit(actor, "exclusion.delete", None, conn=c, id=xid)
            return bool(n)

    def engine_exclusions(self) -> list[Any]:
        """The stored exclusions as :class:`dcwatch.detectors.engine.Exclusion` objects."""
        from dcwatch.detectors.engine import Exclusion

        rows, _ = self.list_exclusions(limit=1_000_000)
        return [Exclusion(r["slug"], r["kind"], r["value"], r["expires_at"]) for r in rows]

    # --- alert reads ----------------------------------------------------------------------------

    def query_alerts(self, flt: AlertFilter | None = None, limit: int = 50, offset: int = 0
                     ) -> tuple[list[AlertView], int]:
        """A page of alerts (newest first) and the total matching the filter."""
        flt = flt or AlertFilter()
        a = t.alerts
        with self.engine.connect() as c:
            self._resolve(c, flt)
            cond = flt.conditions()
            total = c.execute(select(func.count()).select_from(a).where(*cond)).scalar() or 0
            rows = list(c.execute(select(a).where(*cond).order_by(
                a.c.last_seen.desc(), a.c.id).limit(limit).offset(offset)).mappings())
            views = self._views(c, rows)
        return views, int(total)

    def phase_counts(self, flt: AlertFilter | None = None) -> dict[str, int]:
        """Alerts per kill-chain phase under the filter (its phase ignored)."""
        flt = flt or AlertFilter()
        a = t.alerts
        with self.engine.connect() as c:
            self._resolve(c, flt)
            got: dict[str, int] = dict(c.execute(select(a.c.phase, func.count()).where(
                *flt.conditions(skip_phase=True)).group_by(a.c.phase)).all())
        return {p.value: int(got.get(p.value, 0)) for p in Phase}

    # --- indexed helpers ------------------------------------------------------------------------

    def optimize(self) -> None:
        """Give SQLite's planner statistics once (the portal's queries depend on them)."""
        if not self.store.url.startswith("sqlite"):
            return
        with self.engine.begin() as c:
            have = c.exec_driver_sql("SELECT name FROM sqlite_master WHERE name='sqlite_stat1'"
                                     ).first()
            if have is None:
                c.exec_driver_sql("PRAGMA analysis_limit=1000")
                c.exec_driver_sql("ANALYZE")

    def _entity_pairs(self, c: Any, text: str, cap: int = 1000
                      ) -> list[tuple[str, str]] | None:
        """(kind, name) of the entities whose name, IP or SID contains ``text``; None when
        there are too many (the caller falls back to a scan)."""
        q = text.strip()
        e = t.alert_entities.c
        like = f"%{_like_escape(q.lower())}%"
        pairs: dict[tuple[str, str], None] = {}
        # SQLite's LIKE ignores ASCII case: a covering scan of ix_alert_entities_name
        for r in c.execute(select(e.kind, e.name).where(e.name.like(like, escape="\\"))
                           .group_by(e.kind, e.name).limit(cap + 1)):
            pairs[(r.kind, r.name)] = None
        for col, v in ((e.ip, q), (e.sid, q.upper())):
            for r in c.execute(select(e.kind, e.name).where(col >= v, col < v + "\uffff")
                               .group_by(e.kind, e.name).limit(cap + 1)):
                pairs[(r.kind, r.name)] = None
        return list(pairs) if len(pairs) <= cap else None

    def _resolve(self, c: Any, flt: AlertFilter) -> None:
        if flt.entity and flt.entity_pairs is None:
            flt.entity_pairs = self._entity_pairs(c, flt.entity)

    def _alerts_naming(self, c: Any, pairs: list[tuple[str, str]], limit: int, offset: int = 0,
                       exclude: str | None = None) -> tuple[list[Any], int]:
        """Alerts naming any of ``pairs`` (newest first) and how many: an IN list when the
        entities are rare, an ordered scan with EXISTS when they are everywhere (a DC)."""
        e = t.alert_entities.c
        a = t.alerts
        match = pairs_condition(pairs)
        total = int(c.execute(select(func.count(func.distinct(e.alert_id))).where(match)
                              ).scalar() or 0)
        cond: Any
        if total <= 5000:
            cond = a.c.id.in_(select(e.alert_id).where(match))
        else:
            cond = exists().where(e.alert_id == a.c.id, match)
        q = select(a).where(cond)
        if exclude:
            q = q.where(a.c.id != exclude)
            total -= 1
        rows = list(c.execute(q.order_by(a.c.last_seen.desc(), a.c.id).limit(limit)
                              .offset(offset)).mappings())
        return rows, max(total, 0)

    def _views(self, c: Any, rows: list[Any]) -> list[AlertView]:
        ids = [r["id"] for r in rows]
        ents: dict[str, list[EntityRef]] = {i: [] for i in ids}
        if ids:
            for e in c.execute(select(t.alert_entities).where(
                    t.alert_entities.c.alert_id.in_(ids))):
                ents[e.alert_id].append(EntityRef(e.kind, e.name, e.role, e.sid, e.ip))
        return [self._view(r, ents[r["id"]]) for r in rows]

    @staticmethod
    def _view(r: Any, ents: list[EntityRef]) -> AlertView:
        al = Alert(
            id=r["id"], type=r["type"], external_id=r["external_id"], title=r["title"],
            description=r["description"], severity=Severity(r["severity"]),
            phase=Phase(r["phase"]), status=Status(r["status"]),
            first_seen=_aware(r["first_seen"]), last_seen=_aware(r["last_seen"]),  # type: ignore[arg-type]
            key=r["key"], entities=ents, evidence=r["evidence"] or {}, count=r["count"],
            mitre=tuple(r["mitre"] or ()))
        return AlertView(al, r["classification"], r["assigned_to"],
                         _aware(r["status_changed_at"]), _aware(r["updated_at"]))

    def alert(self, alert_id: str) -> AlertView | None:
        """One alert with entities (activities are paged: :meth:`alert_activities`)."""
        with self.engine.connect() as c:
            r = c.execute(select(t.alerts).where(t.alerts.c.id == alert_id)).mappings().first()
            return self._views(c, [r])[0] if r else None

    def alert_activities(self, alert_id: str, limit: int = 200, offset: int = 0
                         ) -> tuple[list[Activity], int]:
        """A page of an alert's activity log (chronological) and its size."""
        aa = t.alert_activities
        with self.engine.connect() as c:
            total = c.execute(select(func.count()).select_from(aa).where(
                aa.c.alert_id == alert_id)).scalar() or 0
            q = select(t.activities.c.data).join(aa, aa.c.activity_uid == t.activities.c.uid
                                                 ).where(aa.c.alert_id == alert_id).order_by(
                t.activities.c.ts, t.activities.c.uid).limit(limit).offset(offset)
            acts = [Activity.from_dict(d[0]) for d in c.execute(q)]
        return acts, int(total)

    def related_alerts(self, view: AlertView, limit: int = 20) -> list[AlertView]:
        """Other alerts naming one of this alert's entities, newest first."""
        pairs = list(dict.fromkeys((e.kind, e.name) for e in view.alert.entities))
        if not pairs:
            return []
        with self.engine.connect() as c:
            rows, _ = self._alerts_naming(c, pairs, limit, exclude=view.alert.id)
            return self._views(c, rows)

    def entity_info(self, kind: str, name: str) -> EntityInfo:
        """Identifiers (SIDs, IPs) and roles seen for an entity across alerts."""
        e = t.alert_entities.c
        info = EntityInfo(kind, name)
        with self.engine.connect() as c:
            for r in c.execute(select(e.sid, e.ip, e.role).where(e.kind == kind, e.name == name)
                               .distinct().limit(500)):
                if r.sid and r.sid not in info.sids:
                    info.sids.append(r.sid)
                if r.ip and r.ip not in info.ips:
                    info.ips.append(r.ip)
                if r.role not in info.roles:
                    info.roles.append(r.role)
            info.alerts = int(c.execute(select(func.count(func.distinct(e.alert_id))).where(
                e.kind == kind, e.name == name)).scalar() or 0)
        return info

    def entity_alerts(self, kind: str, name: str, limit: int = 50, offset: int = 0
                      ) -> tuple[list[AlertView], int]:
        """Alerts naming an entity, newest first."""
        with self.engine.connect() as c:
            rows, total = self._alerts_naming(c, [(kind, name)], limit, offset)
            return self._views(c, rows), total

    def entity_activities(self, kind: str, name: str, extra_ips: Iterable[str] = (),
                          limit: int = 100) -> list[Activity]:
        """Recent activities involving an entity (as actor, host, source or destination)."""
        x = t.activities.c
        eq: list[tuple[Any, str]] = []
        with self.engine.connect() as c:
            if kind == "user":
                eq += [(x.actor, name), (x.actor, name.rsplit("\\", 1)[-1])]
            elif kind == "computer":
                for n in dict.fromkeys((name, name.upper(), name.lower())):
                    eq += [(x.host, n), (x.actor, n + "$")]
                    eq += [(x.host, h) for h in self._values_with_prefix(c, x.host, n + ".")]
            elif kind == "ip":
                eq += [(x.src_ip, name), (x.dst_ip, name)]
            else:
                eq += [(x.actor, name)]
            for ip in extra_ips:
                eq += [(x.src_ip, ip), (x.dst_ip, ip)]
            found: dict[str, tuple[datetime, Any]] = {}
            for col, v in dict.fromkeys(eq):
                for r in c.execute(select(x.uid, x.ts, x.data).where(col == v)
                                   .order_by(x.ts.desc()).limit(limit)):
                    found[r.uid] = (r.ts, r.data)
        best = sorted(found.values(), key=lambda p: p[0], reverse=True)[:limit]
        return [Activity.from_dict(d) for _, d in best]

    @staticmethod
    def _values_with_prefix(c: Any, col: Any, prefix: str, cap: int = 20) -> list[str]:
        """Distinct values of an indexed column starting with ``prefix`` (index seeks)."""
        out: list[str] = []
        cur = c.execute(select(func.min(col)).where(col >= prefix, col < prefix + "\uffff")
                        ).scalar()
        while cur is not None and len(out) < cap:
            out.append(cur)
            cur = c.execute(select(func.min(col)).where(col > cur, col < prefix + "\uffff")
                            ).scalar()
        return out

    def entities(self, q: str = "", limit: int = 50, offset: int = 0
                 ) -> tuple[list[dict[str, Any]], int]:
        """Entities named by alerts (name/IP/SID substring), with alert counts."""
        e = t.alert_entities.c
        cond: list[Any] = []
        if q.strip():
            like = f"%{_like_escape(q.strip().lower())}%"
            cond.append(or_(func.lower(e.name).like(like, escape="\\"),
                            e.ip.like(like, escape="\\"),
                            func.lower(e.sid).like(like, escape="\\")))
        base = select(e.kind, e.name).where(*cond).group_by(e.kind, e.name)
        with self.engine.connect() as c:
            total = c.execute(select(func.count()).select_from(base.subquery())).scalar() or 0
            rows = [dict(r._mapping) for r in c.execute(
                select(e.kind, e.name, func.count(func.distinct(e.alert_id)).label("alerts"))
                .where(*cond).group_by(e.kind, e.name).order_by(e.kind, e.name)
                .limit(limit).offset(offset))]
        return rows, int(total)

    def search(self, q: str, limit: int = 50) -> dict[str, Any]:
        """Entities and alerts matching a text (names, IPs, SIDs, titles, ids)."""
        q = q.strip()
        if not q:
            return {"entities": [], "alerts": [], "alerts_total": 0}
        e = t.alert_entities.c
        a = t.alerts.c
        with self.engine.connect() as c:
            pairs = self._entity_pairs(c, q, cap=limit) or []
            ents = []
            for kind, name in pairs[:limit]:
                n = c.execute(select(func.count(func.distinct(e.alert_id))).where(
                    e.kind == kind, e.name == name)).scalar()
                ents.append({"kind": kind, "name": name, "alerts": int(n or 0)})
            rows, total = self._alerts_naming(c, pairs, limit) if pairs else ([], 0)
            like = f"%{_like_escape(q.lower())}%"
            rows += list(c.execute(select(t.alerts).where(or_(
                a.id == q, a.external_id == (int(q) if q.isdigit() else -1),
                func.lower(a.title).like(like, escape="\\"))).order_by(
                a.last_seen.desc()).limit(limit)).mappings())
            uniq = list({r["id"]: r for r in rows}.values())
            uniq.sort(key=lambda r: r["last_seen"], reverse=True)
            views = self._views(c, uniq[:limit])
        return {"entities": ents, "alerts": views, "alerts_total": max(total, len(views))}

    # --- alert changes (audited) ----------------------------------------------------------------

    def change_status(self, alert_id: str, status: Status, actor: str,
                      classification: str | None = None, comment: str | None = None) -> bool:
        """Open / close (with classification) / suppress / delete an alert; audited."""
        if status is Status.CLOSED and classification not in CLASSIFICATIONS:
            raise ValueError(f"closing needs a classification: {', '.join(CLASSIFICATIONS)}")
        if status is not Status.CLOSED:
            classification = None
        ok = self.store.set_status(alert_id, status, classification)
        if ok:
            with self.engine.begin() as c:
                self.audit(actor, f"status.{status.value}", alert_id, conn=c,
                           classification=classification, comment=comment or None)
                if comment and comment.strip():
                    c.execute(insert(t.comments).values(alert_id=alert_id, ts=_now(),
                                                        author=actor, text=comment.strip()))
        return ok

    def close_and_exclude(self, alert_id: str, actor: str, classification: str,
                          comment: str | None = None) -> list[int]:
        """Close an alert and exclude its attacker / source entities from its detection."""
        view = self.alert(alert_id)
        if view is None:
            return []
        if not self.change_status(alert_id, Status.CLOSED, actor, classification, comment):
            return []
        have = {(x["slug"], x["kind"], x["value"].lower()) for x in self.list_exclusions()[0]}
        out = []
        with self.engine.begin() as c:
            for ent in exclusion_candidates(view.alert):
                key = (view.alert.type, ent.kind, ent.name.lower())
                if key in have:
                    continue
                have.add(key)
                out.append(self.add_exclusion(view.alert.type, ent.kind, ent.name, actor,
                                              comment or f"close and exclude of {alert_id}",
                                              alert_id=alert_id, conn=c))
        return out

    def assign(self, alert_id: str, assignee: str | None, actor: str) -> bool:
        """Assign an alert to a user (None/empty: unassign); audited."""
        assignee = (assignee or "").strip() or None
        with self.engine.begin() as c:
            n = c.execute(update(t.alerts).where(t.alerts.c.id == alert_id).values(
                assigned_to=assignee)).rowcount
            if n:
                self.audit(actor, "assign", alert_id, conn=c, assigned_to=assignee)
            return bool(n)

    # --- outbox -------------------------------------------------------------------------------

    def enqueue(self, target: str, payload: str, alert_id: str | None = None,
                trigger: str | None = None) -> int:
        """Store a delivery durably before it is attempted."""
        now = _now()
        with self.engine.begin() as c:
            r = c.execute(insert(t.outbox).values(
                target=target, payload=payload, alert_id=alert_id, trigger=trigger,
                status="pending", attempts=0, next_attempt=_naive(now), created_at=now))
            return int(r.inserted_primary_key[0])  # type: ignore[index]

    def due(self, now: datetime | None = None, limit: int = 100) -> list[OutboxItem]:
        """Pending deliveries whose next attempt is due, oldest first."""
        o = t.outbox.c
        q = select(t.outbox).where(o.status == "pending",
                                   o.next_attempt <= _naive(now or _now())).order_by(
            o.id).limit(limit)
        with self.engine.connect() as c:
            return [OutboxItem(r.id, r.target, r.payload, r.alert_id, r.trigger, r.attempts,
                               r.last_error) for r in c.execute(q)]

    def mark_sent(self, item_id: int) -> None:
        """A delivery succeeded."""
        with self.engine.begin() as c:
            c.execute(update(t.outbox).where(t.outbox.c.id == item_id).values(
                status="sent", sent_at=_now(), attempts=t.outbox.c.attempts + 1,
                last_error=None))

    def mark_failed(self, item_id: int, error: str, next_attempt: datetime) -> None:
        """A delivery failed: keep it pending until ``next_attempt``."""
        with self.engine.begin() as c:
            c.execute(update(t.outbox).where(t.outbox.c.id == item_id).values(
                attempts=t.outbox.c.attempts + 1, last_error=error[:2000],
                next_attempt=_naive(next_attempt)))

    def outbox_counts(self) -> dict[str, int]:
        """Deliveries per status."""
        with self.engine.connect() as c:
            return {s: int(n) for s, n in c.execute(select(t.outbox.c.status, func.count())
                                                    .group_by(t.outbox.c.status))}


def exclusion_candidates(alert: Alert) -> list[EntityRef]:
    """The entities close-and-exclude excludes: attacker and source users, computers, IPs."""
    out = []
    for e in alert.entities:
        role = e.role.lower()
        if e.kind in ("user", "computer", "ip") and ("attacker" in role or
                                                      role.startswith("source")):
            out.append(e)
    return out
