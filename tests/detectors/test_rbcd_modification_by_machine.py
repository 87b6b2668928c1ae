"""2423 RBCD attribute written by a machine account."""

from __future__ import annotations

import pytest
from tests.detectors.conftest import USER, act, lab, run, scan_alerts

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
    assert len(alerts) == 1
    assert alerts[0].count == 2


def _key(ts: float, actor: Account, dn: str) -> object:
    return act(K.DS_MODIFY, ts, actor=actor, event_id=5136,
               fields={"dn": dn, "attributes": ["msDS-KeyCredentialLink"],
                       "values": {"msDS-KeyCredentialLink": "B:828:0002..."},
                       "operation": "value_added"})


@pytest.mark.parametrize("name", ["dc.pcap", "samba-audit.jsonl"])
def test_lab_krbrelayup_self_write(name: str) -> None:
    """Samba 4.22 lab run: WS1$ (LDAP simple bind from WS1) writes rbcd.py's descriptor on its
    own object granting WS2$ (RID 1116); the descriptor is read from the binary value."""
    alerts = [a for a in scan_alerts(lab(f"rbcd_machine_write/{name}")) if a.external_id == 2423]
    assert len(alerts) == 1
    ev = alerts[0].evidence
    assert ev["writer"].endswith("WS1$")
    assert ev["object"] == "WS1"
    assert ev["self_write"] is True
    assert ev["source_computer"] == "WS1"
    assert [g["sid"].rsplit("-", 1)[1] for g in ev["granted"]] == ["1116"]
