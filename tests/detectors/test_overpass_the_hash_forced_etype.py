"""2008 over-pass-the-hash (forced encryption type): lab, OTRF and synthetic AS exchanges."""

from __future__ import annotations

from tests.conftest import shared_file
from tests.detectors.netutil import WS1, WS2, alerts_of, ids_of, recording, run, wire
from tests.helpers import act, user

from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "overpass-the-hash-forced-etype"
AES_LIST = [18, 17, 23]


def asreq(seconds: float, who: str, etypes: list[int], pre: int, src: str = WS1,
          outcome: str = "success"):
    return wire(K.KERBEROS_AS, seconds, src=src, actor=user(who), outcome=outcome,
                status=0 if outcome == "success" else 24,
                fields={"etypes": etypes, "pa_types": [2, 128], "preauth_etype": pre,
                        "sname": "krbtgt/CONTOSO.LOCAL", "ticket_fingerprint": f"fp{seconds}"})


def test_rc4_only_preauth_fires_with_account_and_source() -> None:
    alerts = run(SLUG, [asreq(0, "bob", AES_LIST, 18, src=WS2), asreq(5, "bob", [23], 23)])
    assert len(alerts) == 1
    a = alerts[0]
    assert a.external_id == 2008
    assert a.description.startswith("The AS-REQ encrypted timestamp of CONTOSO\\bob from "
                                    "10.0.0.21")
    assert "RC4-HMAC" in a.description
    assert a.evidence["aes_previously_seen"] is True
    assert a.evidence["lateral_movement_path"] == []  # the evidence hook
    assert {e.role for e in a.entities} >= {"compromised account", "source computer"}


def test_client_offering_aes_is_not_forced() -> None:
    # an RC4-keyed legacy account with a normal client: AES offered, RC4 chosen by the KDC
    assert run(SLUG, [asreq(0, "legacy", AES_LIST, 23)]) == []


def test_known_rc4_only_account_and_live_learning() -> None:
    acts = [asreq(0, "svc", [23], 23), asreq(60, "svc", [23], 23)]
    assert len(run(SLUG, acts)) == 1  # scan: first one alerts, then the account is RC4-only
    # live, threshold High: nothing learned about AES for this account -> quiet
    assert run(SLUG, [asreq(0, "svc", [23], 23)], mode="live") == []
    # threshold Low ignores learning: alerts like scan
    assert len(run(SLUG, [asreq(0, "svc", [23], 23)], mode="live", threshold="low")) == 1


def test_event_4768_and_fresh_account_exclusion() -> None:
    ev = act(K.KERBEROS_AS, 0, actor=user("pgustavo"), src_ip="::ffff:10.0.0.6",
             outcome="success", status=0, fields={"ticket_etype": 0x17, "preauth_type": 2})
    alerts = run(SLUG, [ev])
    assert len(alerts) == 1
    assert alerts[0].evidence["source_ip"] == "10.0.0.6"
    renamed = act(K.ACCOUNT_RENAMED, 0, actor=user("x"), target=Account("dc1", "C"),
                  fields={"old_name": "NEW$", "new_name": "dc1"})
    ev2 = act(K.KERBEROS_AS, 1, actor=Account("dc1", "C"), src_ip="10.0.0.6",
              outcome="success", status=0, fields={"ticket_etype": 0x17, "preauth_type": 2})
    assert run(SLUG, [renamed, ev2]) == []


def test_lab_overpass_the_hash() -> None:
    alerts = alerts_of(recording("overpass_the_hash"), 2008)
    assert len(alerts) == 1
    assert "hd.admin" in alerts[0].description


def test_lab_samba_audit() -> None:
    assert 2008 in ids_of(recording("overpass_the_hash", "samba-audit.jsonl"))


def test_otrf_rubeus_host_and_pcap() -> None:
    for rel in ("otrf-dev/credential_access/host/empire_shell_rubeus_asktgt_createnetonly.zip",
                "otrf-dev/credential_access/network/empire_shell_rubeus_asktgt_createnetonly"
                ".zip"):
        alerts = alerts_of(shared_file(rel), 2008)
        assert len(alerts) == 1
        assert "pgustavo" in alerts[0].description


def test_quiet_on_benign_and_nopac_trap() -> None:
    assert 2008 not in ids_of(recording("benign_baseline"))
    assert 2008 not in ids_of(shared_file(
        "evtx-attack-samples/Privilege_Escalation/samaccount_spoofing_CVE-2021-42287_"
        "CVE-2021-42278_DC_securitylogs.evtx"))
