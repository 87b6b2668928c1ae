"""2431 Suspected account takeover using shadow credentials."""

from __future__ import annotations

import pytest
from tests.detectors.conftest import USER, act, lab, run, scan_alerts

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


def test_refused_writes_on_the_wire_are_quiet() -> None:
    # Samba 4.17 answers both with an LDAP error (noSuchAttribute / constraintViolation "can
    # only be modified as system"); the wire decoder marks binary values with True.
    def wire(attr: str, dn: str, actor: Account, status: int, outcome: str) -> object:
        return act(K.DS_MODIFY, 0, actor=actor, protocol="ldap", src_ip="10.0.0.21",
                   dst_ip="10.0.0.10", outcome=outcome, status=status,
                   fields={"dn": dn, "operation": "modify", "attributes": [attr],
                           "changes": [{"op": "add", "attribute": attr}],
                           "values": {attr: True}})

    bob = "CN=bob,CN=Users,DC=corp,DC=local"
    ws = "CN=WS05,CN=Computers,DC=corp,DC=local"
    assert run([wire("msDS-KeyCredentialLink", bob, USER, 16, "failure")], SHADOW) == []
    assert run([wire("msDS-AllowedToActOnBehalfOfOtherIdentity", ws, EVIL, 19, "failure")],
               RBCD) == []
    assert len(run([wire("msDS-KeyCredentialLink", bob, USER, 0, "success")], SHADOW)) == 1
    assert len(run([wire("msDS-AllowedToActOnBehalfOfOtherIdentity", ws, EVIL, 0, "success")],
                   RBCD)) == 1


@pytest.mark.parametrize("name", ["dc.pcap", "samba-audit.jsonl"])
def test_lab_key_credential_written_by_helpdesk(name: str) -> None:
    """Samba 4.22 lab run: hd.admin adds a KeyCredential to bob from WS1; the PKINIT that
    follows is refused by Samba's KDC, so the alert is not updated."""
    alerts = [a for a in scan_alerts(lab(f"shadow_credentials/{name}")) if a.external_id == 2431]
    assert len(alerts) == 1
    assert alerts[0].count == 1
    ev = alerts[0].evidence
    assert ev["actor"].endswith("hd.admin")
    assert ev["target"] == "bob"
    assert ev["source_computer"] == "WS1"
