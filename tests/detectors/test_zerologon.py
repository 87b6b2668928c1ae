"""2411 Zerologon: labelled recordings and synthetic wire/ETW cases."""

from __future__ import annotations

import pytest
from tests.detectors.conftest import act, ids, lab, run, scan_alerts, shared, wire_rpc

from dcwatch.detectors.engine import Exclusion
from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "zerologon"
CA = "evtx-attack-samples/Credential_Access/"


@pytest.mark.parametrize("rel", [
    "Zerologon_CVE-2020-1472_DFIR_System_NetLogon_Error_EventID_5805.evtx",
    "Zerologon_VoidSec_CVE-2020-1472_4626_LT3_Anonym_follwedby_4742_DC_Anony_DC.evtx",
    "etw_rpc_zerologon.evtx",
])
def test_fires_on_labelled_recordings(rel: str) -> None:
    alerts = [a for a in scan_alerts(shared(CA + rel)) if a.external_id == 2411]
    assert len(alerts) == 1
    assert alerts[0].severity == "high"


def test_4742_names_the_anonymous_source() -> None:
    a = scan_alerts(shared(CA + "Zerologon_VoidSec_CVE-2020-1472_4626_LT3_Anonym_follwedby_4742"
                                "_DC_Anony_DC.evtx"))[0]
    assert a.description.startswith("02694W-WIN10 may have attempted")
    assert a.evidence["source_ip"] == "172.16.66.37"


def test_lab_capture_fires() -> None:
    assert 2411 in ids(scan_alerts(lab("zerologon_attempt/dc.pcap")))


@pytest.mark.parametrize("rel", [
    "evtx-attack-samples/Credential_Access/remote_pwd_reset_rpc_mimikatz_postzerologon_target_"
    "DC.evtx",
    "evtx-attack-samples/Credential_Access/Sysmon13_MachineAccount_Password_Hash_Changed_via_"
    "LsarSetSecret.evtx",
    "evtx-attack-samples/Privilege_Escalation/4624_LT3_AnonymousLogon_Localhost_-_"
    "JuicyPotato.evtx",
])
def test_quiet_on_lookalikes(rel: str) -> None:
    assert 2411 not in ids(scan_alerts(shared(rel)))


def _auth(ts: float, zero: bool, src: str = "10.0.0.21"):
    return wire_rpc("netlogon", "NetrServerAuthenticate3", ts,
                    {"account": "DC01$", "credential_all_zero": zero}, src=src,
                    outcome="failure", auth_level="none")


def test_one_zero_credential_is_enough_and_more_update_the_alert() -> None:
    alerts = run([_auth(0, True), _auth(1, True), wire_rpc(
        "netlogon", "NetrServerPasswordSet2", 2, {"account": "DC01$",
                                                 "password_all_zero": True})], SLUG)
    assert len(alerts) == 1
    assert alerts[0].count == 3
    assert "all-zero new password" in alerts[0].description
    assert alerts[0].evidence["targeted_account"] == "DC01$"


def test_normal_secure_channel_setup_is_quiet() -> None:
    acts = [_auth(0, False), wire_rpc("netlogon", "NetrServerPasswordSet2", 1,
                                      {"account": "WS1$", "password_all_zero": False},
                                      auth_level="privacy")]
    assert run(acts, SLUG) == []


def test_burst_threshold() -> None:
    assert run([_auth(i * 0.1, False) for i in range(19)], SLUG) == []
    assert len(run([_auth(i * 0.1, False) for i in range(20)], SLUG)) == 1
    # spread over more than the window: quiet
    assert run([_auth(i * 10.0, False) for i in range(20)], SLUG) == []


def test_etw_password_set_over_authenticated_binding_is_quiet() -> None:
    a = act(K.RPC_CALL, 0, protocol="event", fields={"interface": "netlogon", "opnum": 30,
                                                      "auth_level": 6, "etw": True})
    assert run([a], SLUG) == []
    a.fields["auth_level"] = 1
    assert len(run([a], SLUG)) == 1


def test_5805_from_another_client_is_quiet() -> None:
    a = act(K.NETLOGON_AUTH_DENIED, 0, fields={"client_computer": "WS1"})
    assert run([a], SLUG) == []


def test_anonymous_change_of_a_workstation_account_on_another_dc_is_quiet() -> None:
    a = act(K.COMPUTER_CHANGED, 0, actor=Account("ANONYMOUS LOGON", "NT AUTHORITY", "S-1-5-7"),
            target=Account("WS9$", "CORP"))
    assert run([a], SLUG, dcs=("DC01",)) == []  # configured DCs: WS9 is not one


def test_exclusion_of_the_source() -> None:
    assert run([_auth(0, True)], SLUG, exclusions=[Exclusion(SLUG, "ip", "10.0.0.21")]) == []
