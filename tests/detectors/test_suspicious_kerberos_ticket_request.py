"""2418 Suspected suspicious Kerberos ticket request (conservative: relayed service ticket)."""

from __future__ import annotations

from tests.detectors.netutil import RECORDINGS, alerts_of, recording
from tests.helpers import act, user

from dcwatch.detectors.base import DetectionConfig
from dcwatch.detectors.engine import Engine, Exclusion
from dcwatch.entities.resolver import Resolver
from dcwatch.model.activity import Account, Activity
from dcwatch.model.activity import ActivityKind as K
from dcwatch.model.alert import Alert

SLUG = "suspicious-kerberos-ticket-request"
DC, VICTIM, RELAY, SERVER = "10.0.0.10", "10.0.0.21", "10.0.0.66", "10.0.0.30"
BOB = user("bob", 1106)


def _tgs(seconds: float, fp: str = "fp1", src: str = VICTIM, sname: str = "cifs/dc01") -> Activity:
    return act(K.KERBEROS_TGS, seconds, host=DC, actor=BOB, protocol="kerberos", src_ip=src,
               src_port=50000, dst_ip=DC, dst_port=88, outcome="success", status=0,
               target=Account(sname, "CONTOSO.LOCAL"),
               fields={"sname": sname, "realm": "CONTOSO.LOCAL", "ticket_fingerprint": fp,
                       "ticket_etype": 18})


def _ap(seconds: float, fp: str = "fp1", src: str = RELAY, dst: str = DC,
        service: str = "cifs/dc01", proto: str = "smb2") -> Activity:
    return act(K.KERBEROS_AP, seconds, host=dst, protocol=proto, src_ip=src, src_port=51000,
               dst_ip=dst, dst_port=445,
               fields={"service": service, "ticket_fingerprint": fp, "app_protocol": proto})


def _run(acts: list[Activity], exclusions: tuple[Exclusion, ...] = (),
         **tunables: object) -> list[Alert]:
    resolver = Resolver(["DC01"])
    resolver.dc_ips[DC] = "test: configured DC address"
    cfg = DetectionConfig(tunables={SLUG: tunables} if tunables else {})
    return Engine(resolver, cfg, [SLUG], list(exclusions)).run(acts)


def test_fires_on_a_service_ticket_relayed_to_the_dc() -> None:
    alerts = _run([_tgs(0), _ap(1)])
    assert len(alerts) == 1
    a = alerts[0]
    assert a.description == ("A Kerberos service ticket for cifs/dc01 requested by "
                             "CONTOSO\\bob from 10.0.0.21 was presented to DC01 over smb2 "
                             "from 10.0.0.66 1 second later (Kerberos relay).")
    assert a.evidence["presented_from"] == RELAY
    assert {("CONTOSO\\bob", "account"), ("10.0.0.66", "source computer")} <= {
        (e.name, e.role) for e in a.entities}


def test_quiet_when_the_requester_presents_its_own_ticket() -> None:
    assert _run([_tgs(0), _ap(1, src=VICTIM)]) == []


def test_quiet_after_the_relay_window_or_for_a_tgt() -> None:
    assert _run([_tgs(0), _ap(600)]) == []  # later reuse: pass-the-ticket's business
    assert _run([_tgs(0, sname="krbtgt/CONTOSO.LOCAL"), _ap(1)]) == []


def test_quiet_when_presented_to_a_member_server() -> None:
    assert _run([_tgs(0, sname="cifs/fs01"), _ap(1, dst=SERVER, service="cifs/fs01")]) == []


def test_quiet_for_nat_addresses_and_unseen_tickets() -> None:
    assert _run([_tgs(0), _ap(1)], nat_ips=(RELAY,)) == []
    assert _run([_ap(1)]) == []  # issue never seen (no fingerprint to compare)


def test_quiet_on_event_log_activities() -> None:
    tgs = _tgs(0)
    ap = _ap(1)
    tgs.protocol = ap.protocol = "event"
    assert _run([tgs, ap]) == []


def test_repeat_updates_and_exclusion() -> None:
    acts = [_tgs(0, "fp1"), _ap(1, "fp1"), _tgs(100, "fp2"), _ap(101, "fp2")]
    alerts = _run(acts)
    assert len(alerts) == 1
    assert alerts[0].count == 2
    assert _run(acts, exclusions=(Exclusion(SLUG, "user", "bob"),)) == []


def test_lab_relay_recording() -> None:
    """kerberos_relay: bob's SMB connection from WS2 relayed through WS1 to the DC."""
    alerts = alerts_of(recording("kerberos_relay"), 2418)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.description == ("A Kerberos service ticket for cifs/dc01.contoso.local requested "
                             "by CONTOSO\\bob from WS2 was presented to DC01 over smb from WS1 "
                             "less than a second later (Kerberos relay).")
    assert a.evidence["presented_from"] == "10.77.0.21"
    assert 0 <= a.evidence["delay_seconds"] < 1


def test_lab_quiet_without_relay() -> None:
    for s in ("benign_baseline", "pass_the_ticket", "new_computer_s4u"):
        p = RECORDINGS / s / "dc.pcap"
        if p.exists():
            assert 2418 not in {x.external_id for x in alerts_of(p)}, s
