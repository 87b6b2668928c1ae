"""2040 Golden ticket through RBCD on krbtgt: the directory write and the S4U2proxy."""

from __future__ import annotations

import pytest
from tests.conftest import RECORDINGS
from tests.detectors.netutil import ids_of, run, wire
from tests.helpers import act, user

from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "golden-ticket-rbcd"
KRBTGT_DN = "CN=krbtgt,CN=Users,DC=contoso,DC=local"


def rbcd_write(dn: str = KRBTGT_DN):
    return act(K.DS_MODIFY, 0, actor=user("mallory"), fields={
        "dn": dn, "attributes": ["msDS-AllowedToActOnBehalfOfOtherIdentity"],
        "values": {"msDS-AllowedToActOnBehalfOfOtherIdentity": ["O:BAD:(A;;CR;;;S-1-5-21-9)"]},
        "operation": "value_added"})


def s4u2proxy(seconds: float, sname: str = "krbtgt/CONTOSO.LOCAL"):
    return wire(K.KERBEROS_TGS, seconds, actor=Account("svc_web", "CONTOSO.LOCAL"),
                outcome="success", status=0,
                fields={"sname": sname, "realm": "CONTOSO.LOCAL",
                        "kdc_options": ["forwardable", "constrained-delegation"],
                        "additional_tickets": [{"fingerprint": "ab", "sname": "svc_web",
                                                "owner": "administrator@CONTOSO.LOCAL"}]})


def test_write_then_s4u2proxy_is_one_alert() -> None:
    alerts = run(SLUG, [rbcd_write(), s4u2proxy(60)])
    assert len(alerts) == 1
    a = alerts[0]
    assert a.count == 2  # the S4U2proxy updates the alert the write opened
    assert "S4U2proxy" in a.description
    first = run(SLUG, [rbcd_write()])[0]
    assert first.description.startswith("CONTOSO\\mallory gave resource-based constrained "
                                        "delegation rights over the KRBTGT account of "
                                        "contoso.local")


def test_s4u2proxy_to_krbtgt_alone_fires() -> None:
    alerts = run(SLUG, [s4u2proxy(0)])
    assert len(alerts) == 1
    assert "on behalf of CONTOSO\\administrator through S4U2proxy" in alerts[0].description
    roles = {e.role for e in alerts[0].entities}
    assert {"account with SPN", "impersonated user"} <= roles


def test_ordinary_delegation_stays_quiet() -> None:
    assert run(SLUG, [s4u2proxy(0, "cifs/fs01.contoso.local")]) == []
    assert run(SLUG, [rbcd_write("CN=FS01,OU=Servers,DC=contoso,DC=local")]) == []


@pytest.mark.parametrize("scenario", sorted(p.name for p in RECORDINGS.iterdir()
                                             if p.is_dir() and p.name != "golden_ticket_rbcd"))
def test_recordings_stay_quiet(scenario: str) -> None:
    for name in ("dc.pcap", "samba-audit.jsonl"):
        p = RECORDINGS / scenario / name
        if p.exists():
            assert 2040 not in ids_of(p)



@pytest.mark.parametrize(("name", "count"), [("dc.pcap", 2), ("samba-audit.jsonl", 1)])
def test_lab_golden_ticket_rbcd(name: str, count: int) -> None:
    """Samba 4.22 lab run: da.admin writes RBCD on krbtgt for svc_sql (both files), then
    svc_sql's S4U2proxy to krbtgt/CONTOSO.LOCAL is granted (wire only): one alert, updated."""
    from tests.detectors.conftest import lab, scan_alerts

    alerts = [a for a in scan_alerts(lab(f"golden_ticket_rbcd/{name}")) if a.external_id == 2040]
    assert len(alerts) == 1
    assert alerts[0].count == count
    roles = {(e.role, e.name) for e in alerts[0].entities}
    assert {("actor", "CONTOSO\\da.admin"), ("modified account", "krbtgt"),
            ("source computer", "WS1")} <= roles
    if count == 2:
        assert {("account with SPN", "CONTOSO\\svc_sql"),
                ("impersonated user", "CONTOSO\\Administrator")} <= roles
