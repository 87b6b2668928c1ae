"""Synthetic LDAP searches for the LDAP detector tests."""

from __future__ import annotations

from typing import Any

from tests.detectors.netutil import WS1, wire
from tests.helpers import user

from dcwatch.model.activity import Activity
from dcwatch.model.activity import ActivityKind as K


def search(seconds: float, flt: str, base: str = "DC=contoso,DC=local", src: str = WS1,
           attrs: list[str] | None = None, **fields: Any) -> Activity:
    """A wire LDAP search from ``src`` as alice."""
    f: dict[str, Any] = {"filter": flt, "base_dn": base, "scope": 2, "attributes": attrs or [],
                         "entries": 3}
    f.update(fields)
    return wire(K.LDAP_SEARCH, seconds, src=src, actor=user("alice"), protocol="ldap",
                status=0, outcome="success", dst_port=389, fields=f)
