"""Tables (SQLAlchemy Core). The same schema serves SQLite (default) and PostgreSQL."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
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

# --- portal (migration 2): users, sessions, comments, audit, exclusions, tokens, outbox ---------

users = Table(
    "users", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(200), nullable=False, unique=True),
    Column("role", String(20), nullable=False),  # admin | analyst | viewer
    Column("password_hash", Text, nullable=False),
    Column("must_change", Integer, nullable=False, default=0),
    Column("disabled", Integer, nullable=False, default=0),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_login", DateTime(timezone=True)),
)

sessions = Table(
    "sessions", metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)

api_tokens = Table(
    "api_tokens", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Integer, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("label", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("last_used", DateTime(timezone=True)),
)

comments = Table(
    "comments", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(40), nullable=False),  # no FK: comments outlive deleted alerts
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("author", String(200), nullable=False),
    Column("text", Text, nullable=False),
    Index("ix_comments_alert", "alert_id", "ts"),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("ts", DateTime(timezone=True), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(60), nullable=False),
    Column("alert_id", String(40)),
    Column("detail", JSON),
    Index("ix_audit_alert", "alert_id", "ts"),
    Index("ix_audit_ts", "ts"),
)

exclusions = Table(
    "exclusions", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("slug", String(80), nullable=False),  # detector slug or *
    Column("kind", String(20), nullable=False),  # user | computer | ip | any
    Column("value", String(400), nullable=False),
    Column("expires_at", DateTime(timezone=True)),
    Column("author", String(200), nullable=False),
    Column("comment", Text),
    Column("alert_id", String(40)),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target", Text, nullable=False),  # delivery URL: syslog+udp://h:p, https://...
    Column("alert_id", String(40)),
    Column("trigger", String(20)),
    Column("payload", Text, nullable=False),
    Column("status", String(20), nullable=False),  # pending | sent
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt", DateTime(timezone=True), nullable=False),
    Column("last_error", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sent_at", DateTime(timezone=True)),
    Index("ix_outbox_due", "status", "next_attempt"),
)

# Portal read paths (timeline newest first, filters, entity pages) need these on v1 tables.
portal_indexes = [
    Index("ix_alerts_last_seen", alerts.c.last_seen, alerts.c.first_seen, alerts.c.status,
          alerts.c.severity, alerts.c.phase),
    Index("ix_alerts_status_last_seen", alerts.c.status, alerts.c.last_seen),
    Index("ix_alerts_filters", alerts.c.status, alerts.c.severity, alerts.c.phase,
          alerts.c.last_seen, alerts.c.first_seen),
    Index("ix_alert_entities_ip", alert_entities.c.ip),
    Index("ix_alert_entities_sid", alert_entities.c.sid),
    Index("ix_activities_actor_ts", activities.c.actor, activities.c.ts),
    Index("ix_activities_host_ts", activities.c.host, activities.c.ts),
    Index("ix_activities_src_ip_ts", activities.c.src_ip, activities.c.ts),
    Index("ix_activities_dst_ip_ts", activities.c.dst_ip, activities.c.ts),
    Index("ix_alert_activities_uid", alert_activities.c.activity_uid),
]


# What the data taught about entities (the resolver's knowledge, kept across runs).
entities = Table(
    "entities", metadata,
    Column("kind", String(20), primary_key=True),  # user | computer | ip
    Column("name", String(400), primary_key=True),  # DOMAIN\\user, SHORTNAME, or the address
    Column("sid", String(200)),
    Column("fqdn", String(400)),
    Column("ips", JSON),  # computers: addresses seen; ips: the computer, method, certainty
    Column("tags", JSON),  # domain-controller, workgroup, sensitive, honeytoken, ...
    Column("evidence", Text),  # why a tag holds (e.g. "issues Kerberos tickets (4768)")
    Column("first_seen", DateTime(timezone=True)),
    Column("last_seen", DateTime(timezone=True)),
    Index("ix_entities_sid", "sid"),
)

# --- live deployment (migration 4): center checkpoints, health issues ----------------------------

center_checkpoints = Table(
    "center_checkpoints", metadata,
    Column("name", String(200), primary_key=True),  # the center's durable consumer name
    Column("positions", JSON, nullable=False),  # {stream: last stream sequence folded in}
    Column("state", LargeBinary, nullable=False),  # pickled detection state (engine, reorder)
    Column("activities", Integer, nullable=False, default=0),
    Column("format", Integer, nullable=False, default=1),  # state layout version
    Column("dcwatch_version", String(40)),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

health_issues = Table(
    "health_issues", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(40), nullable=False),  # sensor_silent | capture_drops | bus_lag | ...
    Column("site", String(200), nullable=False, default=""),
    Column("sensor", String(200), nullable=False, default=""),  # "" for global issues
    Column("severity", String(10), nullable=False),  # low | medium | high
    Column("status", String(20), nullable=False),  # open | closed
    Column("description", Text, nullable=False),
    Column("resolution", Text),
    Column("detail", JSON),
    Column("count", Integer, nullable=False, default=1),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Column("closed_at", DateTime(timezone=True)),
    Index("ix_health_open", "status", "kind", "site", "sensor"),
)

# --- directory knowledge (migration 5): AD objects, memberships, local admins, LMP sessions ------

directory_objects = Table(
    "directory_objects", metadata,
    Column("sid", String(200), primary_key=True),
    Column("kind", String(20), nullable=False),  # user | computer | group
    Column("name", String(400), nullable=False),  # sAMAccountName (computers without $)
    Column("domain", String(200)),
    Column("dn", Text),
    Column("uac", Integer),
    Column("admin_count", Integer, nullable=False, default=0),
    Column("spns", JSON),
    Column("primary_group", String(200)),
    Column("dns_name", String(400)),
    Column("os", String(200)),
    Column("description", Text),
    Column("usn", Integer, nullable=False, default=0),
    Column("tags", JSON),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_directory_objects_name", "name"),
)

group_members = Table(
    "group_members", metadata,
    Column("group_sid", String(200), primary_key=True),
    Column("member_sid", String(600), primary_key=True),  # a SID, or DN:... when unresolved
    Index("ix_group_members_member", "member_sid"),
)

local_admins = Table(
    "local_admins", metadata,
    Column("computer", String(400), primary_key=True),  # short upper-case name
    Column("principal_sid", String(200), primary_key=True),
    Column("source", String(60)),  # bloodhound | event 4732 | samr
)

lmp_sessions = Table(
    "lmp_sessions", metadata,
    Column("account", String(400), primary_key=True),  # SID, or DOMAIN\\name when no SID known
    Column("computer", String(400), primary_key=True),  # short name, or the IP when unresolved
    Column("how", String(80), primary_key=True),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    Index("ix_lmp_sessions_last_seen", "last_seen"),
)

directory_state = Table(
    "directory_state", metadata,
    Column("key", String(200), primary_key=True),  # domain | trusts | usn:<server>
    Column("value", JSON),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# reports read activities by kind over a period (cleartext binds, sensitive group changes)
activities_kind_index = Index("ix_activities_kind_ts", activities.c.kind, activities.c.ts)
