"""What the AD CS detectors (2432-2435) share: reading a Certification Services activity.

``protocols.winevent`` maps the CA's Security events 4882-4900 to the ``adcs.*`` kinds
(``adcs.certificate_requested``, ``adcs.database_rows_deleted``...) with ``adcs`` naming the
event's operation (request_received, security_permissions_changed...).
"""

from __future__ import annotations

from typing import Any

from dcwatch.detectors._common import actor_text, display, host_ref, named
from dcwatch.detectors.base import refs, user_ref
from dcwatch.entities.resolver import Resolver
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import EntityRef

K = ActivityKind
# A certificate request as the CA logs it: received (4886) or issued (4887).
CA_REQUESTS = frozenset({K.ADCS_REQUEST, K.ADCS_ISSUED})


def ca_actor(a: Activity, resolver: Resolver) -> Account | None:
    """Who performed a CA operation (named from its SID when the event gave only the SID)."""
    return named(resolver, a.actor)


def ca_alert_parts(a: Activity, resolver: Resolver) -> tuple[str, str, list[EntityRef]]:
    """(actor text, CA display name, entities [actor, CA]) of a CA configuration change."""
    actor = ca_actor(a, resolver)
    return (actor_text(actor), display(a.host),
            refs(user_ref(actor, "actor"), host_ref(a.host, "certification authority")))


def ca_key(a: Activity, resolver: Resolver) -> str:
    """Alert key: one open alert per actor and CA."""
    actor = ca_actor(a, resolver)
    who = str(actor).lower() if actor else "?"
    return f"{who}|{display(a.host).lower()}"


def kept(pairs: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """Evidence dict without empty values."""
    return {k: v for k, v in pairs if v not in (None, "", [], {})}
