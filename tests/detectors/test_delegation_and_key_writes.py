"""2423 RBCD written by a machine, 2431 shadow credentials, 2422 new computer delegation."""

from __future__ import annotations

from tests.detectors.conftest import USER, act, run, scan_alerts, shared

from dcwatch.detectors.base import DetectionConfig
from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

RBCD = "rbcd-modification-by-machine"
SHADOW = "shadow-credentials"
NEW = "new-computer-kerberos-delegation"
WS = Account("WS05$", "CORP", "S-1-5-21-1-2-3-1300")
EVIL = Account("EVIL01$", "CORP", "S-1-5-21-1-2-3-1200")
SD = "O:BAD:(A;;CCDCLCSWRPWPDTLOCRSDRCWDWO;;;S-1-5-21-1-2-3-1200)"


def _rbcd(ts: float, actor: Account, dn: str = "CN=WS05,CN=Computers,DC=corp,DC=local",
          **f: object) -> object:
    return act(K.DS_MODIFY, ts, actor=actor, event_id=5136,
               fields={"dn": dn, "attributes": ["msDS-AllowedToActOnBehalfOfOtherIdentity"],
                       "values": {"msDS-AllowedToActOnBehalfOfOtherIdentity": SD},
                       "operation": "value_added", "object_guid": "aaaa", **f})


def test_rbcd_written_by_machine_names_granted_sid() -> None:
    alerts = run([act(K.COMPUTER_CREATED, 0, actor=USER, target=EVIL), _rbcd(5, WS)], RBCD)
    assert len(alerts) == 1
    assert alerts[0].description == (
        "Machine account CORP\\WS05$ modified the resource-based constrained delegation "
        "(msDS-AllowedToActOnBehalfOfOtherIdentity) of WS05 (its own object), granting "
        "CORP\\EVIL01$ (S-1-5-21-1-2-3-1200) on DC01.")


def test_rbcd_by_user_is_quiet_and_4662_merges() -> None:
    assert run([_rbcd(0, USER)], RBCD) == []
    acc = act(K.DS_ACCESS, 0.01, actor=WS, event_id=4662,
              fields={"object_name": "aaaa", "access_mask": 0x20,
                      "properties": ["3f78c3e5-f79a-46bd-a0b8-9d18116ddc79"]})
    alerts = run([_rbcd(0, WS), acc], RBCD)
    assert len(alerts) == 1 and alerts[0].count == 2


def _key(ts: float, actor: Account, dn: str) -> object:
    return act(K.DS_MODIFY, ts, actor=actor, event_id=5136,
               fields={"dn": dn, "attributes": ["msDS-KeyCredentialLink"],
                       "values": {"msDS-KeyCredentialLink": "B:828:0002..."},
                       "operation": "value_added"})


def test_shadow_credentials_then_pkinit_updates() -> None:
    dn = "CN=da.admin,CN=Users,DC=corp,DC=local"
    pk = act(K.KERBEROS_AS, 60, actor=Account("da.admin", "CORP"), src_ip="10.0.0.21",
             outcome="success", fields={"preauth_type": 16})
    alerts = run([_key(0, USER, dn), pk], SHADOW)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.count == 2
    assert a.description.startswith("CORP\\mallory added a key credential "
                                    "(msDS-KeyCredentialLink) to da.admin on DC01")
    assert "Then da.admin authenticated with a certificate (PKINIT) from 10.0.0.21" in \
        a.description


def test_shadow_credentials_expected_writers_are_quiet() -> None:
    acts = [_key(0, WS, "CN=WS05,CN=Computers,DC=corp,DC=local"),  # a device's own key
            _key(1, Account("MSOL_0a1b2c3d4e5f", "CORP"), "CN=bob,CN=Users,DC=corp,DC=local"),
            _key(2, Account("DC01$", "CORP"), "CN=bob,CN=Users,DC=corp,DC=local"),
            act(K.DS_MODIFY, 3, actor=USER, event_id=5136,
                fields={"dn": "CN=bob,CN=Users,DC=corp,DC=local",
                        "attributes": ["msDS-KeyCredentialLink"],
                        "operation": "value_deleted"})]
    assert run(acts, SHADOW) == []
    whfb = [_key(0, Account("svc_whfb", "CORP"), "CN=bob,CN=Users,DC=corp,DC=local")]
    assert len(run(whfb, SHADOW)) == 1
    cfg = DetectionConfig(tunables={SHADOW: {"provisioning_accounts": ("svc_whfb",)}})
    assert run(whfb, SHADOW, config=cfg) == []


def test_new_computer_s4u_on_the_wire() -> None:
    created = act(K.COMPUTER_CREATED, 0, actor=USER, target=EVIL, event_id=4741)
    s4u = act(K.KERBEROS_TGS, 120, host="10.0.0.10", protocol="kerberos", src_ip="10.0.0.21",
              dst_ip="10.0.0.10", actor=Account("EVIL01$", "CORP.LOCAL"), outcome="success",
              fields={"pa_types": [1, 129], "s4u_user": "Administrator@CORP.LOCAL",
                      "sname": "EVIL01$"})
    alerts = run([created, s4u], NEW)
    assert len(alerts) == 1
    assert alerts[0].description == (
        "EVIL01$, created by CORP\\mallory 2 minute(s) earlier, requested a S4U2self for "
        "Administrator@CORP.LOCAL ticket on 10.0.0.10.")


def test_new_computer_given_delegation_and_rbcd_towards_it() -> None:
    created = act(K.COMPUTER_CREATED, 0, actor=USER, target=EVIL, event_id=4741)
    uac = act(K.COMPUTER_CHANGED, 30, actor=USER, target=EVIL, event_id=4742,
              fields={"old_uac": "0x80", "new_uac": "0x80080"})
    alerts = run([created, uac, _rbcd(40, WS)], NEW)
    assert len(alerts) == 1 and alerts[0].count == 2
    assert "allowed to delegate to WS05" in alerts[0].description


def test_old_computers_and_nopac_stay_quiet() -> None:
    created = act(K.COMPUTER_CREATED, 0, actor=USER, target=EVIL, event_id=4741)
    late = act(K.KERBEROS_TGS, 3 * 86400, actor=Account("EVIL01$"), src_ip="10.0.0.21",
               fields={"transited": "EVIL01$@CORP.LOCAL"})
    assert run([created, late], NEW) == []
    p = shared("evtx-attack-samples/Privilege_Escalation/samaccount_spoofing_CVE-2021-42287_"
               "CVE-2021-42278_DC_securitylogs.evtx")
    got = {a.external_id for a in scan_alerts(p)}
    assert not {2422, 2423, 2431} & got
