"""Tables (SQLAlchemy Core). The same schema serves SQLite (default) and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("applied_at", DateTime(timezone=True), nullable=False),
)

sources = Table(
    "sources", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("format", String(40)),
    Column("records", Integer, default=0),
    Column("activities", Integer, default=0),
    Column("unmapped", Integer, default=0),
    Column("skipped", Integer, default=0),
    Column("first_error", Text),
    Column("fatal", Text),
    Column("status", String(20), nullable=False),  # running | complete | failed
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
)

alerts = Table(
    "alerts", metadata,
    Column("id", String(40), primary_key=True),
    Column("type", String(80), nullable=False),
    Column("external_id", Integer, nullable=False),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("severity", String(10), nullable=False),
    Column("phase", String(40), nullable=False),
    Column("status", String(20), nullable=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("key", Text, nullable=False),
    Column("count", Integer, nullable=False, default=1),
    Column("mitre", JSON),
    Column("evidence", JSON),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("status_changed_at", DateTime(timezone=True)),
    Column("classification", String(40)),
    Column("assigned_to", String(200)),
    Index("ix_alerts_type_key", "type", "key"),
    Index("ix_alerts_first_seen", "first_seen"),
)

alert_entities = Table(
    "alert_entities", metadata,
    Column("alert_id", String(40), ForeignKey("alerts.id", ondelete="CASCADE"),
           primary_key=True),
    Column("kind", String(20), primary_key=True),
    Column("name", String(400), primary_key=True),
    Column("role", String(80), primary_key=True),
    Column("sid", String(200)),
    Column("ip", String(60)),
    Index("ix_alert_entities_name", "kind", "name"),
)

activities = Table(
    "activities", metadata,
    Column("uid", String(40), primary_key=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("kind", String(60), nullable=False),
    Column("host", String(400)),
    Column("src_ip", String(60)),
    Column("dst_ip", String(60)),
    Column("actor", String(400)),
    Column("data", JSON, nullable=False),
    Index("ix_activities_ts", "ts"),
)

alert_activities = Table(
    "alert_activities", metadata,
    Column("alert_id", String(40), ForeignKey("alerts.id", ondelete="CASCADE"),
           primary_key=True),
    Column("activity_uid", String(40), ForeignKey("activities.uid"), primary_key=True),
)
