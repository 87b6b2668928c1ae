"""2018 pass-the-ticket: lab recordings and synthetic ticket reuse."""

from __future__ import annotations

from tests.detectors.netutil import WS1, WS2, alerts_of, ids_of, recording, run, wire
from tests.helpers import user

from dcwatch.model.activity import ActivityKind as K

SLUG = "pass-the-ticket"


def tgt(seconds: float, who: str, fp: str, src: str):
    return wire(K.KERBEROS_AS, seconds, src=src, actor=user(who), outcome="success", status=0,
                fields={"sname": "krbtgt/CONTOSO.LOCAL", "ticket_fingerprint": fp,
                        "ticket_etype": 18, "reply_cname": who})


def tgs(seconds: float, used: str, fp: str, src: str, svc: str = "cifs/dc01",
        port: int = 50000):
    return wire(K.KERBEROS_TGS, seconds, src=src, src_port=port, outcome="success", status=0,
                fields={"sname": svc, "used_ticket_fingerprint": used,
                        "used_ticket_sname": "krbtgt/CONTOSO.LOCAL", "ticket_fingerprint": fp,
                        "ticket_etype": 18})


def ap(seconds: float, fp: str, src: str, svc: str = "cifs/dc01"):
    return wire(K.KERBEROS_AP, seconds, src=src, protocol="smb",
                fields={"ticket_fingerprint": fp, "service": svc})


def test_tgt_used_from_second_computer_lists_resources() -> None:
    alerts = run(SLUG, [tgt(0, "da.admin", "T1", WS2), tgs(1, "T1", "S1", WS2),
                        tgs(30, "T1", "S2", WS1), ap(31, "S2", WS1),
                        tgs(40, "T1", "S3", WS1, svc="ldap/dc01"), ap(41, "S3", WS1, "ldap/dc01")])
    assert len(alerts) == 1
    a = alerts[0]
    assert a.external_id == 2018
    assert a.description.startswith("Kerberos tickets of CONTOSO\\da.admin were taken from "
                                    "10.0.0.22, moved to 10.0.0.21")
    # The server is named by the service tickets presented to it (cifs/dc01 at 10.0.0.10).
    assert {"cifs/dc01 on DC01", "ldap/dc01 on DC01"} <= set(a.evidence["accessed_resources"])
    roles = {e.role for e in a.entities}
    assert {"victim", "ticket source computer", "source computer", "accessed resource"} <= roles


def test_same_ip_other_port_is_the_same_computer() -> None:
    assert run(SLUG, [tgt(0, "bob", "T1", WS1), tgs(1, "T1", "S1", WS1, port=1),
                      tgs(2, "T1", "S2", WS1, port=2), ap(3, "S2", WS1)]) == []


def test_stolen_service_ticket_and_nat_and_lifetime() -> None:
    acts = [tgt(0, "bob", "T1", WS2), tgs(1, "T1", "S1", WS2), ap(5, "S1", WS1)]
    assert len(run(SLUG, acts)) == 1
    assert run(SLUG, acts, nat_ips=(WS1,)) == []  # NAT pool: filtered at threshold High
    assert len(run(SLUG, acts, threshold="low", nat_ips=(WS1,))) == 1
    late = [tgt(0, "bob", "T1", WS2), tgs(11 * 3600, "T1", "S2", WS1)]
    assert run(SLUG, late) == []  # beyond the ticket lifetime the state is gone


def test_lab_pass_the_ticket() -> None:
    alerts = alerts_of(recording("pass_the_ticket"), 2018)
    assert len(alerts) == 1
    a = alerts[0]
    assert "da.admin" in a.description
    assert "10.0.0" not in a.description
    assert a.evidence["issued_to_ip"] == "10.77.0.22"
    assert a.evidence["used_from_ip"] == \
        "10.77.0.21"


def test_quiet_on_benign_baseline_and_overpass() -> None:
    assert 2018 not in ids_of(recording("benign_baseline"))
    assert 2018 not in ids_of(recording("overpass_the_hash"))
