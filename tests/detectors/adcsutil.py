"""AD CS / AD FS detector test helpers: the synthetic CA logs and Certification Services
activities as ``protocols.winevent`` maps them."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from tests.detectors.conftest import act, scan_alerts

from dcwatch.model.activity import Account, Activity
from dcwatch.model.alert import Alert
from dcwatch.protocols.winevent import ADCS_EVENTS, ADFS_EVENTS

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "adcs_adfs"
CA = "CA01.contoso.local"
MALLORY = Account("mallory", "CONTOSO", "S-1-5-21-1-2-3-1120")
PKI_ADMIN = Account("pki.admin", "CONTOSO", "S-1-5-21-1-2-3-1130")
# operation name -> activity kind, as protocols.winevent maps the CA's and AD FS's events
ADCS_KIND = {op: kind for kind, op in ADCS_EVENTS.values()}
ADFS_KIND = {op: kind for kind, op in ADFS_EVENTS.values()}


@cache
def attack_alerts() -> tuple[Alert, ...]:
    """Alerts of the attack log (scanned end to end once)."""
    return tuple(scan_alerts(FIXTURES / "adcs_attack.jsonl"))


@cache
def benign_alerts() -> tuple[Alert, ...]:
    """Alerts of the benign log."""
    return tuple(scan_alerts(FIXTURES / "adcs_benign.jsonl"))


def of(alerts: tuple[Alert, ...], external_id: int) -> list[Alert]:
    """The alerts of one type."""
    return [a for a in alerts if a.external_id == external_id]


def ca_op(op: str, ts: float = 0, actor: Account | None = MALLORY,
          target: Account | None = None, host: str = CA, **fields: Any) -> Activity:
    """A Certification Services activity on the CA."""
    return act(ADCS_KIND[op], ts, host=host, actor=actor, target=target,
               fields={"adcs": op, **fields})
