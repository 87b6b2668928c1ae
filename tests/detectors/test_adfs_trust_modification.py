"""2420 Suspicious modification of the trust relationship of AD FS server."""

from __future__ import annotations

from functools import cache

from tests.detectors.adcsutil import ADFS_KIND, FIXTURES, MALLORY, of
from tests.detectors.conftest import act, run, scan_alerts

from dcwatch.detectors.base import DetectionConfig
from dcwatch.detectors.engine import Exclusion
from dcwatch.model.activity import Account, Activity
from dcwatch.model.activity import ActivityKind as K
from dcwatch.model.alert import Alert

SLUG = "adfs-trust-modification"
ADFS = "ADFS01.contoso.local"
GMSA_SID = "S-1-5-21-1-2-3-1140"
ADFS_DN = "CN=ADFS,CN=Microsoft,CN=Program Data,DC=contoso,DC=local"


@cache
def _alerts(name: str) -> tuple[Alert, ...]:
    return tuple(scan_alerts(FIXTURES / name))


def _change(inst: str, details: list[str], ts: float = 0, with_510: bool = True
            ) -> list[Activity]:
    gmsa = Account(None, None, GMSA_SID)
    base = {"instance_id": inst}
    out = [act(ADFS_KIND["configuration_changed"], ts, host=ADFS, actor=gmsa,
               fields={**base, "adfs": "configuration_changed"})]
    if with_510:
        out.append(act(ADFS_KIND["additional_information"], ts + 0.1, host=ADFS, actor=gmsa,
                       fields={**base, "adfs": "additional_information", "details": details}))
    return out


ADD_CP = ["Caller: CONTOSO\\mallory", "Action: Add-AdfsClaimsProviderTrust",
          "Object: Name=Evil IdP"]


def test_fires_on_a_new_claims_provider_trust_end_to_end() -> None:
    alerts = of(_alerts("adfs_attack.jsonl"), 2420)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.description.startswith(
        "CONTOSO\\mallory modified the trust configuration of AD FS server ADFS01: "
        "Action: Add-AdfsClaimsProviderTrust; Object: Name=Contoso Partner IdP;")
    assert {("CONTOSO\\mallory", "actor"), ("ADFS01", "AD FS server")} <= {
        (e.name, e.role) for e in a.entities}
    assert a.evidence["instance_id"] == "8f1c2a9e-3b4d-4e5f-8a6b-7c8d9e0f1a2b"


def test_quiet_on_trust_monitoring_and_non_trust_changes_end_to_end() -> None:
    assert of(_alerts("adfs_benign.jsonl"), 2420) == []


def test_details_arriving_late_are_joined_within_the_wait() -> None:
    acts = _change("i-1", ADD_CP, with_510=False)
    acts.append(_change("i-1", ADD_CP, ts=30)[1])
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert alerts[0].description.startswith("CONTOSO\\mallory modified")


def test_307_without_details_is_not_judged() -> None:
    assert run(_change("i-1", [], with_510=False), SLUG) == []


def test_authorized_operator_is_quiet() -> None:
    cfg = DetectionConfig(tunables={SLUG: {"authorized_actors": frozenset({"mallory"})}})
    assert run(_change("i-1", ADD_CP), SLUG, config=cfg) == []


def test_write_under_the_adfs_container_in_ad() -> None:
    dn = f"CN=CryptoPolicy,{ADFS_DN}"
    w = act(K.DS_MODIFY, 0, actor=MALLORY, fields={"dn": dn, "attributes": ["thumbnailPhoto"],
                                                   "operation": "value_added"})
    alerts = run([w], SLUG)
    assert len(alerts) == 1
    assert alerts[0].description == (f"CONTOSO\\mallory modified {dn} (thumbnailPhoto) in the "
                                     "AD FS configuration container on DC01.")
    gmsa = act(K.DS_MODIFY, 0, actor=Account("adfssvc$", "CONTOSO"), fields={"dn": dn})
    other = act(K.DS_MODIFY, 0, actor=MALLORY, fields={"dn": "CN=x,DC=contoso,DC=local"})
    assert run([gmsa, other], SLUG) == []


def test_repeat_updates_and_exclusion() -> None:
    acts = _change("i-1", ADD_CP, 0) + _change("i-2", ADD_CP, 300)
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert alerts[0].count == 2
    assert run(acts, SLUG, exclusions=[Exclusion(SLUG, "user", "mallory")]) == []
