"""2422 Kerberos delegation attempt by a newly created computer."""

from __future__ import annotations

from tests.detectors.conftest import USER, act, run, scan_alerts, shared

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


def _key(ts: float, actor: Account, dn: str) -> object:
    return act(K.DS_MODIFY, ts, actor=actor, event_id=5136,
               fields={"dn": dn, "attributes": ["msDS-KeyCredentialLink"],
                       "values": {"msDS-KeyCredentialLink": "B:828:0002..."},
                       "operation": "value_added"})


def test_new_computer_s4u_on_the_wire() -> None:
    created = act(K.COMPUTER_CREATED, 0, actor=USER, target=EVIL, event_id=4741)
    s4u = act(K.KERBEROS_TGS, 120, host="10.0.0.10", protocol="kerberos", src_ip="10.0.0.21",
              dst_ip="10.0.0.10", actor=Account("EVIL01$", "CORP.LOCAL"), outcome="success",
              fields={"pa_types": [1, 129], "s4u_user": "Administrator@CORP.LOCAL",
                      "sname": "EVIL01$"})
    alerts = run([created, s4u], NEW)
    assert len(alerts) == 1
    assert alerts[0].description == (
        "EVIL01$, created by CORP\\mallory 2 minutes earlier, requested an S4U2self ticket "
        "for Administrator@CORP.LOCAL on 10.0.0.10.")


def test_new_computer_given_delegation_and_rbcd_towards_it() -> None:
    created = act(K.COMPUTER_CREATED, 0, actor=USER, target=EVIL, event_id=4741)
    uac = act(K.COMPUTER_CHANGED, 30, actor=USER, target=EVIL, event_id=4742,
              fields={"old_uac": "0x80", "new_uac": "0x80080"})
    alerts = run([created, uac, _rbcd(40, WS)], NEW)
    assert len(alerts) == 1
    assert alerts[0].count == 2
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
