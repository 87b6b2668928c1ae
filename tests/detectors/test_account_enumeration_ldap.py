"""2437 account enumeration over CLDAP pings."""

from __future__ import annotations

from tests.detectors.ldaputil import search
from tests.detectors.netutil import alerts_of, ids_of, recording, run

SLUG = "account-enumeration-ldap"


def ping(i: int, name: str, **answer):
    return search(i * 0.1, f"(&(DnsDomain=contoso.local)(User={name})(NtVer=\\06\\00\\00\\00))",
                  base="", attrs=["Netlogon"], cldap=True, entries=1, **answer)


def test_many_names_from_one_source() -> None:
    alerts = run(SLUG, [ping(i, f"user{i}") for i in range(20)])
    assert len(alerts) == 1
    assert "20 names tried" in alerts[0].description
    assert run(SLUG, [ping(i, f"user{i}") for i in range(19)]) == []


def test_existing_accounts_from_the_netlogon_opcode() -> None:
    """23 = an account matched the User clause, 25 = unknown (MS-ADTS 6.3.1.9); a DC answers
    every ping with an entry, so entries alone say nothing."""
    acts = [ping(i, f"user{i}", netlogon_opcode=25) for i in range(20)]
    acts += [ping(20, "alice", netlogon_opcode=23), ping(21, "bob", netlogon_opcode=23)]
    alerts = run(SLUG, acts)
    assert len(alerts) == 1
    a = alerts[0]
    assert "22 names tried, 2 existing account(s) found (alice, bob)" in a.description
    assert a.evidence["existing_accounts"] == ["alice", "bob"]
    assert a.evidence["unknown_names"] == 20
    assert {e.name for e in a.entities if e.role == "existing account"} == {"alice", "bob"}


def test_lab_recording() -> None:
    alerts = alerts_of(recording("account_enumeration_ldap"), 2437)
    assert len(alerts) == 1
    assert "40 names tried, 6 existing account(s) found" in alerts[0].description


def test_machine_pings_do_not_count() -> None:
    assert run(SLUG, [ping(i, "WS1$") for i in range(30)]) == []


def test_lab_quiet() -> None:
    assert 2437 not in ids_of(recording("benign_baseline"))
