"""What the AD FS detectors (2420, 2424) share: reading an AD FS audit activity.

``protocols.winevent`` maps the federation server's audits (1200-1203, 501, 307, 510) to
``ds.object_access`` with ``object_server`` "AD FS", ``adfs`` naming the operation and
``instance_id`` tying together the events of one request (a 1202 and its 501 claims, a 307 and
its 510 details).
"""

from __future__ import annotations

from dcwatch.model.activity import Activity, ActivityKind

ADFS_SERVER = "AD FS"


def adfs_op(a: Activity) -> str | None:
    """The AD FS audit operation of an activity, or None for anything else."""
    if a.kind is not ActivityKind.DS_ACCESS or a.fields.get("object_server") != ADFS_SERVER:
        return None
    return a.fields.get("adfs")


def as_list(value: object) -> list[str]:
    """A claim value or list of values as a list of stripped strings."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    return [str(v).strip() for v in items if str(v).strip()]
