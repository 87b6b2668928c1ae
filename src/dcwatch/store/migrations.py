"""Versioned schema migrations: each step runs once, in order, recorded in schema_version.

A step is a function of a connection. New steps are appended, never edited once released;
``dcwatch`` upgrades a database on open (SQLite and PostgreSQL alike).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Connection, inspect, select

from dcwatch.store import schema

Step = Callable[[Connection], None]


def _v1_initial(conn: Connection) -> None:
    for t in (schema.sources, schema.alerts, schema.alert_entities, schema.activities,
              schema.alert_activities):
        t.create(conn, checkfirst=True)


def _v2_portal(conn: Connection) -> None:
    for t in (schema.users, schema.sessions, schema.api_tokens, schema.comments,
              schema.audit_log, schema.exclusions, schema.outbox):
        t.create(conn, checkfirst=True)
    for ix in schema.portal_indexes:
        ix.create(conn, checkfirst=True)


def _v3_entities(conn: Connection) -> None:
    schema.entities.create(conn, checkfirst=True)


def _v4_live(conn: Connection) -> None:
    for t in (schema.center_checkpoints, schema.health_issues):
        t.create(conn, checkfirst=True)


def _v5_directory(conn: Connection) -> None:
    for t in (schema.directory_objects, schema.group_members, schema.local_admins,
              schema.lmp_sessions, schema.directory_state):
        t.create(conn, checkfirst=True)
    schema.activities_kind_index.create(conn, checkfirst=True)


MIGRATIONS: list[tuple[int, str, Step]] = [
    (1, "initial: sources, alerts, alert entities, activities", _v1_initial),
    (2, "portal: users, sessions, tokens, comments, audit, exclusions, outbox, indexes",
     _v2_portal),
    (3, "entities: what the data taught about users, computers and IPs", _v3_entities),
    (4, "live deployment: center checkpoints, health issues", _v4_live),
    (5, "directory: AD objects, group members, local admins, LMP sessions, report index",
     _v5_directory),
]


def current_version(conn: Connection) -> int:
    """Highest applied migration (0 for an empty database)."""
    if not inspect(conn).has_table("schema_version"):
        return 0
    v = conn.execute(select(schema.schema_version.c.version).order_by(
        schema.schema_version.c.version.desc()).limit(1)).scalar()
    return int(v or 0)


def upgrade(conn: Connection) -> list[int]:
    """Apply every pending migration; returns the versions applied."""
    schema.schema_version.create(conn, checkfirst=True)
    have = current_version(conn)
    done = []
    for version, name, step in MIGRATIONS:
        if version <= have:
            continue
        step(conn)
        conn.execute(schema.schema_version.insert().values(
            version=version, name=name, applied_at=datetime.now(UTC)))
        done.append(version)
    return done
