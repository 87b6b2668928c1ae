"""2424 Abnormal AD FS authentication using a suspicious certificate."""

from __future__ import annotations

from functools import cache
from typing import Any

from tests.detectors.adcsutil import ADFS_KIND, FIXTURES, of
from tests.detectors.conftest import act, run, scan_alerts

from dcwatch.detectors.base import DetectionConfig
from dcwatch.detectors.engine import Exclusion
from dcwatch.model.activity import Account, Activity
from dcwatch.model.alert import Alert

SLUG = "adfs-suspicious-certificate-auth"
ADFS = "ADFS01.contoso.local"
TLS = "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/tlsclient"
PWD = "http://schemas.microsoft.com/ws/2008/06/identity/authenticationmethod/password"
CLIENT_AUTH, SC_LOGON = "1.3.6.1.5.5.7.3.2", "1.3.6.1.4.1.311.20.2.2"
CUSTOM = "1.3.6.1.4.1.311.21.8.1234567.7654321.99.1.1"
CA = "CN=Contoso Issuing CA"


@cache
def _alerts(name: str) -> tuple[Alert, ...]:
    return tuple(scan_alerts(FIXTURES / name))


def _adfs(op: str, ts: float, **fields: Any) -> Activity:
    outcome = {"credential_validated": "success", "credential_failed": "failure"}.get(op)
    return act(ADFS_KIND[op], ts, host=ADFS, actor=fields.pop("actor", None),
               src_ip=fields.pop("src_ip", None), outcome=outcome,
               fields={"adfs": op, **fields})


def _sign_in(inst: str, ts: float = 0, user: str = "admin.global", method: str = TLS,
             ekus: tuple[str, ...] = (CUSTOM,), issuer: str = CA,
             claims_first: bool = False) -> list[Activity]:
    auth = _adfs("credential_validated", ts, instance_id=inst, primary_auth=method,
                 actor=Account(user, "CONTOSO"), src_ip="203.0.113.50")
    cert = {"issuer": issuer, "eku": list(ekus)} if method == TLS else None
    claims = _adfs("claims", ts + (-0.5 if claims_first else 0.5), instance_id=inst,
                   certificate=cert)
    return [auth, claims]


def test_fires_on_the_magicweb_sign_in_end_to_end() -> None:
    alerts = of(_alerts("adfs_attack.jsonl"), 2424)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.description == (
        "CONTOSO\\admin.global authenticated to AD FS server ADFS01 from 203.0.113.50 with a "
        "certificate that has suspicious properties (no client-authentication EKU; unusual "
        f"EKU {CUSTOM}); issuer CN=Contoso Issuing CA, DC=contoso, DC=local.")
    assert {("CONTOSO\\admin.global", "user"), ("ADFS01", "AD FS server"),
            ("203.0.113.50", "source IP")} <= {(e.name, e.role) for e in a.entities}
    assert a.evidence["certificate_serial"] == "61000000a1b2c3d4e5f6"


def test_quiet_on_smart_card_and_password_sign_ins_end_to_end() -> None:
    assert of(_alerts("adfs_benign.jsonl"), 2424) == []


def test_claims_before_the_credential_event_still_fire() -> None:
    assert len(run(_sign_in("i-1", claims_first=True), SLUG)) == 1


def test_standard_client_certificate_or_password_is_quiet() -> None:
    assert run(_sign_in("i-1", ekus=(CLIENT_AUTH, SC_LOGON)), SLUG) == []
    assert run(_sign_in("i-2", method=PWD), SLUG) == []
    assert run(_sign_in("i-3", ekus=()), SLUG) == []  # no EKU claim: nothing to judge


def test_trusted_custom_policy_is_quiet() -> None:
    ekus = (CLIENT_AUTH, CUSTOM)
    assert len(run(_sign_in("i-1", ekus=ekus), SLUG)) == 1
    cfg = DetectionConfig(tunables={SLUG: {"trusted_ekus": frozenset({CUSTOM})}})
    assert run(_sign_in("i-1", ekus=ekus), SLUG, config=cfg) == []


def test_new_issuer_needs_a_baseline() -> None:
    rogue = "CN=Rogue CA"
    assert run(_sign_in("x", ekus=(CLIENT_AUTH,), issuer=rogue), SLUG) == []  # no baseline
    acts = [a for i in range(10) for a in _sign_in(f"b{i}", i, "alice", ekus=(CLIENT_AUTH,))]
    acts += _sign_in("x", 60, ekus=(CLIENT_AUTH,), issuer=rogue)
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert alerts[0].evidence["anomalies"] == ["issuer never seen on this farm"]


def test_repeat_updates_and_exclusion() -> None:
    acts = _sign_in("i-1", 0) + _sign_in("i-2", 60)
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert alerts[0].count == 2
    assert run(acts, SLUG, exclusions=[Exclusion(SLUG, "user", "admin.global")]) == []
