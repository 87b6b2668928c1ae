"""Build synthetic activities for unit tests of detectors and the engine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from dcwatch.model.activity import Account, Activity, ActivityKind, Origin

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
_n = 0


def act(kind: ActivityKind, seconds: float = 0, host: str | None = "DC01.contoso.local",
        actor: Account | None = None, target: Account | None = None,
        **kw: Any) -> Activity:
    """An activity at T0 + seconds (each call unique)."""
    global _n
    _n += 1
    fields = kw.pop("fields", {})
    fields.setdefault("record_id", _n)
    return Activity(ts=T0 + timedelta(seconds=seconds), kind=kind,
                    origin=Origin("synthetic", _n, "test"), host=host, actor=actor,
                    target=target, protocol=kw.pop("protocol", "event"), fields=fields, **kw)


def user(name: str, rid: int = 1105, domain: str = "CONTOSO") -> Account:
    """A domain account."""
    return Account(name, domain, f"S-1-5-21-1-2-3-{rid}")
