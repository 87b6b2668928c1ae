"""2028 Suspected DCShadow attack (domain controller promotion)."""

from __future__ import annotations

import pytest
from tests.conftest import RECORDINGS
from tests.detectors.conftest import ADMIN, act, ids, run, scan_alerts, shared

from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "dcshadow-promotion"
DRS = "E3514235-4B06-11D1-AB04-00C04FC2DCD2/ae9a3b29-01d1-4851-8ca8-e49cd3985e5b/corp.local"


def test_fires_on_the_dcshadow_recording() -> None:
    p = shared("evtx-attack-samples/Persistence/persistence_security_dcshadow_4742.evtx")
    alerts = [a for a in scan_alerts(p) if a.external_id == 2028]
    assert len(alerts) == 1
    a = alerts[0]
    assert a.description.startswith("On DC1, ALICE from insecurebank.local was registered as a "
                                    "domain controller")
    assert a.evidence["rogue_computer"] == "ALICE"
    assert any("created and deleted" in f for f in a.evidence["facts"])


@pytest.mark.parametrize("rel", [
    "evtx-attack-samples/Credential_Access/ACL_ForcePwd_SPNAdd_User_Computer_Accounts.evtx",
    "evtx-attack-samples/Credential_Access/CA_DCSync_4662.evtx",
    "evtx-attack-samples/Persistence/DACL_DCSync_Right_Powerview__Add-DomainObjectAcl.evtx",
])
def test_quiet_on_other_directory_changes(rel: str) -> None:
    assert 2028 not in ids(scan_alerts(shared(rel)))


def _spn(ts: float, computer: str, spns: str, **f: str):
    return act(K.COMPUTER_CHANGED, ts, actor=ADMIN, target=Account(computer, "CORP"),
               fields={"spns": spns, **f})


def test_drs_spn_on_a_workstation_fires() -> None:
    assert len(run([_spn(0, "WS5$", f"HOST/ws5\r\n\t\t{DRS}")], SLUG)) == 1


def test_real_promotion_and_known_dcs_are_quiet() -> None:
    promoted = _spn(0, "NEWDC$", f"GC/newdc.corp.local/corp.local {DRS}", new_uac="0x2000")
    assert run([promoted], SLUG) == []
    assert run([_spn(0, "DC02$", f"GC/dc02.corp.local/corp.local {DRS}")], SLUG,
               dcs=("DC01", "DC02")) == []
    assert run([_spn(0, "WS5$", "HOST/ws5 TERMSRV/ws5")], SLUG) == []


def test_5137_ntdsdsa_for_a_non_dc_server() -> None:
    a = act(K.DS_CREATE, 0, actor=ADMIN, fields={
        "object_class": "nTDSDSA",
        "dn": "CN=NTDS Settings,CN=WS5,CN=Servers,CN=Default-First-Site-Name,CN=Sites,"
              "CN=Configuration,DC=corp,DC=local"})
    alerts = run([a], SLUG)
    assert len(alerts) == 1
    assert alerts[0].evidence["rogue_computer"] == "WS5"


def test_spns_added_over_ldap_or_in_the_samba_audit() -> None:
    dn = "CN=WS5,CN=Computers,DC=corp,DC=local"
    ldap = act(K.DS_MODIFY, 0, actor=ADMIN, protocol="ldap", src_ip="10.0.0.66",
               dst_ip="10.0.0.10", fields={
                   "dn": dn, "operation": "modify", "attributes": ["servicePrincipalName"],
                   "changes": [{"op": "add", "attribute": "servicePrincipalName"}],
                   "values": {"servicePrincipalName": ["GC/ws5.corp.local/corp.local", DRS]}})
    samba = act(K.DS_MODIFY, 0, actor=ADMIN, protocol="samba", src_ip="10.0.0.66", fields={
        "dn": dn, "operation": "modify", "attributes": ["servicePrincipalName"],
        "values": {"servicePrincipalName": [f"add:{DRS}"]}})
    for a in (ldap, samba):
        alerts = run([a], SLUG)
        assert len(alerts) == 1
        assert alerts[0].evidence["rogue_computer"] == "WS5"
    # the same SPNs removed again, or ordinary SPNs added: quiet
    removed = act(K.DS_MODIFY, 0, actor=ADMIN, protocol="samba", fields={
        "dn": dn, "operation": "modify", "attributes": ["servicePrincipalName"],
        "values": {"servicePrincipalName": [f"delete:{DRS}"]}})
    host = act(K.DS_MODIFY, 0, actor=ADMIN, protocol="samba", fields={
        "dn": dn, "operation": "modify", "attributes": ["servicePrincipalName"],
        "values": {"servicePrincipalName": ["add:HOST/ws5.corp.local"]}})
    assert run([removed, host], SLUG) == []


@pytest.mark.parametrize("name", ["dc.pcap", "samba-audit.jsonl"])
def test_lab_dcshadow(name: str) -> None:
    # WS1 registered as a DC by da.admin: server object, nTDSDSA (DRSAddEntry), DC SPNs (LDAP)
    p = RECORDINGS / "dcshadow" / name
    if not p.exists():
        pytest.skip(f"lab recording not present: dcshadow/{name}")
    alerts = [a for a in scan_alerts(p) if a.external_id == 2028]
    assert len(alerts) == 1
    a = alerts[0]
    assert a.description.startswith("On DC01, WS1 was registered as a domain controller")
    roles = {e.role: e.name for e in a.entities}
    assert roles["rogue domain controller"] == "WS1"
    assert "da.admin" in roles["actor"]
    assert roles["source computer"] == "WS1"
