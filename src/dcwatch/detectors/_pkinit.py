"""What the PKINIT detectors (2047, 2425) share: the client certificate of a PKINIT AS-REQ.

``protocols.kerberos`` decodes the PA-PK-AS-REQ certificate into the ``pkinit_cert`` field of
``kerberos.as_request`` (issuer, subject, serial, validity, SAN UPN/DNS, SHA-1 thumbprint).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from dcwatch.model.activity import Account, Activity, ActivityKind


def pkinit_cert(a: Activity) -> dict[str, Any] | None:
    """The decoded client certificate of a PKINIT AS-REQ, else None."""
    if a.kind is not ActivityKind.KERBEROS_AS:
        return None
    c = a.fields.get("pkinit_cert")
    return c if isinstance(c, dict) else None


def name_key(name: str | None) -> str | None:
    """One key per account name: ``alice@corp.local``, ``CORP\\alice``, ``alice`` -> alice."""
    if not name:
        return None
    n = name.strip().lower()
    n = n.split("@", 1)[0] if "@" in n else n
    n = n.rsplit("\\", 1)[-1]
    return n.split("/", 1)[0] or None


def account_key(acct: Account | None) -> str | None:
    """:func:`name_key` of an account."""
    return name_key(acct.name) if acct else None


def cert_time(value: str | None) -> datetime | None:
    """``2026-01-01T00:00:00Z`` -> aware datetime (None when absent or odd)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def cert_evidence(c: dict[str, Any]) -> dict[str, Any]:
    """The certificate fields an analyst needs."""
    return {k: c.get(k) for k in ("issuer", "subject", "serial", "thumbprint", "not_before",
                                  "not_after", "san_upn", "san_dns")}
