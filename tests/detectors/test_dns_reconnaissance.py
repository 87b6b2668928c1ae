"""2007 DNS reconnaissance (zone transfers)."""

from __future__ import annotations

from tests.detectors.netutil import alerts_of, ids_of, recording, run, wire

from dcwatch.model.activity import ActivityKind as K

SLUG = "dns-reconnaissance"


def q(seconds: float, qtype: int, src: str = "10.0.0.21", zone: str = "contoso.local"):
    return wire(K.DNS_QUERY, seconds, src=src, protocol="dns", status=5, outcome="failure",
                fields={"query": zone, "qtype": qtype, "rcode": 5, "rcode_name": "REFUSED",
                        "answers": 0})


def test_axfr_from_workstation_refused_still_alerts() -> None:
    alerts = run(SLUG, [q(0, 252), q(1, 251, zone="_msdcs.contoso.local")])
    assert len(alerts) == 1
    assert alerts[0].count == 2
    assert alerts[0].description.startswith("10.0.0.21, which is not a DNS server, performed "
                                            "suspicious DNS activity against 10.0.0.10")
    assert alerts[0].evidence["outcome"] == "failure"


def test_ordinary_queries_and_learned_secondaries() -> None:
    assert run(SLUG, [q(0, 33), q(1, 1)]) == []
    assert run(SLUG, [q(0, 252)], mode="live") == []  # learning: a secondary DNS server


def test_lab() -> None:
    alerts = alerts_of(recording("dns_axfr"), 2007)
    assert len(alerts) == 1
    assert "10.77.0.21" in alerts[0].description
    assert 2007 not in ids_of(recording("benign_baseline"))
    assert 2007 not in ids_of(recording("killchain"))  # DC-locator SRV look-ups only
