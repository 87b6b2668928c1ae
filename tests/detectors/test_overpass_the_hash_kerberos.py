"""2002 overpass-the-hash (unusual Kerberos implementation on a computer)."""

from __future__ import annotations

from tests.detectors.netutil import WS1, WS2, alerts_of, ids_of, recording, run, wire
from tests.helpers import user

from dcwatch.model.activity import ActivityKind as K

SLUG = "overpass-the-hash-kerberos"


def asreq(seconds: float, who: str, etypes: list[int], src: str = WS1):
    return wire(K.KERBEROS_AS, seconds, src=src, actor=user(who), outcome="success", status=0,
                fields={"etypes": etypes, "pa_types": [2]})


def test_second_stack_on_a_computer() -> None:
    alerts = run(SLUG, [asreq(0, "WS1$", [18, 17, 23]), asreq(9, "hd.admin", [23])])
    assert len(alerts) == 1
    assert alerts[0].description.startswith("WS1 tried to authenticate to 10.0.0.10 as "
                                            "CONTOSO\\hd.admin")
    assert "unusual Kerberos protocol implementation" in alerts[0].description


def test_quiet_without_a_known_stack_or_on_another_computer() -> None:
    assert run(SLUG, [asreq(0, "hd.admin", [23])]) == []
    assert run(SLUG, [asreq(0, "WS2$", [18, 17], src=WS2), asreq(1, "x", [23])]) == []


def test_live_learning_suppresses() -> None:
    assert run(SLUG, [asreq(0, "WS1$", [18]), asreq(9, "a", [23])], mode="live") == []


def test_lab() -> None:
    assert 2002 not in ids_of(recording("benign_baseline"))
    assert 2002 not in ids_of(recording("kerberoast"))  # AES-only tool requests are not RC4


def test_lab_overpass_the_hash() -> None:
    # WS1$ logs on with MIT kinit (AES first), then impacket's RC4-only AS-REQ for hd.admin
    alerts = alerts_of(recording("overpass_the_hash"), 2002)
    assert len(alerts) == 1
    roles = {e.role: e.name for e in alerts[0].entities}
    assert roles["source computer"] == "WS1"
    assert "hd.admin" in roles["compromised account"]
    assert alerts[0].evidence["offered_etypes"] == ["RC4-HMAC"]
