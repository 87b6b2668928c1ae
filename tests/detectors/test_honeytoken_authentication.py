"""2014 Honeytoken authentication activity."""

from __future__ import annotations

from tests.detectors.conftest import USER, act, lab, run, scan_alerts, shared

from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "honeytoken-authentication"
HONEY = Account("backup.admin", "CORP", "S-1-5-21-1-2-3-1113")


def test_lab_recording_wire_and_samba_fold_into_one_alert() -> None:
    p = lab("honeytoken_logon")
    alerts = [a for a in scan_alerts(p, honeytokens=["backup.admin"]) if a.external_id == 2014]
    assert len(alerts) == 1
    a = alerts[0]
    assert a.description.startswith("Activity by honeytoken backup.admin:")
    assert "requested a Kerberos TGT from" in a.description
    assert "authenticated with NTLM" in a.description
    assert any(e.role == "honeytoken" for e in a.entities)
    assert a.evidence["outcomes"].get("success", 0) >= 2


def test_quiet_without_tag_and_on_benign_lab_life() -> None:
    assert 2014 not in {a.external_id for a in scan_alerts(lab("honeytoken_logon"))}
    assert 2014 not in {a.external_id for a in scan_alerts(lab("benign_baseline"),
                                                           honeytokens=["backup.admin"])}


def test_event_sources_success_and_failure_update_one_alert() -> None:
    acts = [act(K.KERBEROS_PREAUTH_FAILED, 0, actor=HONEY, src_ip="10.0.0.21",
                outcome="failure", status=24, event_id=4771),
            act(K.NTLM_VALIDATION, 5, actor=Account("backup.admin"), src_host="WS1",
                outcome="success", status=0, event_id=4776),
            act(K.LOGON, 6, actor=USER, src_ip="10.0.0.21", fields={"logon_type": 3})]
    alerts = run(acts, SLUG, honeytokens=["CORP\\backup.admin"])
    assert len(alerts) == 1
    assert alerts[0].count == 2
    assert alerts[0].evidence["outcomes"] == {"failure": 1, "success": 1}
    assert "failed Kerberos pre-authentication from 10.0.0.21 via DC01" in alerts[0].description


def test_honeytoken_device_as_ntlm_workstation() -> None:
    acts = [act(K.NTLM_VALIDATION, 0, actor=USER, src_host="DECOY7", outcome="success")]
    alerts = run(acts, SLUG, honeytokens=["DECOY7$"])
    assert len(alerts) == 1
    assert alerts[0].evidence["honeytoken_kind"] == "device"


def test_shared_samples_stay_quiet() -> None:
    p = shared("evtx-attack-samples/Credential_Access/kerberos_pwd_spray_4771.evtx")
    assert 2014 not in {a.external_id for a in scan_alerts(p)}
