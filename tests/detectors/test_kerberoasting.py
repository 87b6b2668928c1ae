"""2410 Kerberoasting: lab recording and synthetic TGS requests."""

from __future__ import annotations

from tests.detectors.netutil import alerts_of, ids_of, recording, run, wire
from tests.helpers import act, user

from dcwatch.model.activity import ActivityKind as K

SLUG = "kerberoasting"


def tgs(seconds: float, svc: str, etypes: list[int], ticket: int | None = 23,
        status: int = 0):
    f = {"sname": svc, "etypes": etypes}
    if status == 0:
        f["ticket_etype"] = ticket
    return wire(K.KERBEROS_TGS, seconds, actor=user("alice"), status=status,
                outcome="success" if status == 0 else "failure", fields=f)


def test_one_crackable_rc4_ticket_for_a_user_spn() -> None:
    alerts = run(SLUG, [tgs(0, "MSSQLSvc/sql01:1433", [23])])
    assert len(alerts) == 1
    assert alerts[0].description.startswith("CONTOSO\\alice on 10.0.0.21 requested Kerberos "
                                            "service tickets with RC4 encryption for 1 service")


def test_many_spns_without_crackable_answer() -> None:
    acts = [tgs(i, f"HTTP/app{i}", [23], status=7) for i in range(3)]
    assert len(run(SLUG, acts)) == 1
    assert run(SLUG, acts[:2]) == []
    assert run(SLUG, acts, min_spns=4) == []


def test_quiet_on_machine_services_aes_requests_and_single_event() -> None:
    assert run(SLUG, [tgs(0, "cifs/dc01.contoso.local", [23, 16, 3], ticket=18)]) == []
    assert run(SLUG, [tgs(0, "MSSQLSvc/sql01", [18, 23])]) == []
    ev = act(K.KERBEROS_TGS, 0, actor=user("a"), src_ip="10.0.0.5", outcome="success",
             status=0, fields={"service": "MSSQLSvc/sql01", "ticket_etype": 23})
    assert run(SLUG, [ev]) == []


def test_events_4769_many_services() -> None:
    evs = [act(K.KERBEROS_TGS, i, actor=user("a"), src_ip="10.0.0.5", outcome="success",
               status=0, fields={"service": f"svc{i}/x", "ticket_etype": 23}) for i in range(3)]
    assert len(run(SLUG, evs)) == 1


def test_lab() -> None:
    alerts = alerts_of(recording("kerberoast"), 2410)
    assert len(alerts) == 1
    assert "MSSQLSvc/sql01.contoso.local:1433" in alerts[0].description
    for s in ("benign_baseline", "overpass_the_hash", "killchain"):
        assert 2410 not in ids_of(recording(s)), s
