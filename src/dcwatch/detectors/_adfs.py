"""What the AD FS detectors (2420, 2424) share: reading an AD FS audit activity.

``protocols.winevent`` maps the federation server's audits (1200-1203, 501, 307, 510) to the
``adfs.*`` kinds, with ``adfs`` naming the operation and ``instance_id`` tying together the
events of one request (a 1202 and its 501 claims, a 307 and its 510 details).
"""

from __future__ import annotations

from dcwatch.model.activity import ActivityKind

K = ActivityKind
# Every AD FS audit kind: what the federation server's own log yields.
ADFS_KINDS = frozenset({K.ADFS_TOKEN, K.ADFS_CREDENTIAL, K.ADFS_CLAIMS, K.ADFS_CONFIG_CHANGED,
                        K.ADFS_DETAILS})


def as_list(value: object) -> list[str]:
    """A claim value or list of values as a list of stripped strings."""
    if value is None:
        return []
    items = value if isinstance(value, list | tuple) else [value]
    return [str(v).strip() for v in items if str(v).strip()]
