"""2038 security principal reconnaissance (LDAP)."""

from __future__ import annotations

from tests.detectors.ldaputil import search
from tests.detectors.netutil import ids_of, recording, run

SLUG = "ldap-security-principal-reconnaissance"
ENUM = ["(samAccountType=805306368)", "(objectClass=computer)", "(servicePrincipalName=*)",
        "(objectClass=trustedDomain)"]


def test_several_enumeration_types_from_one_computer() -> None:
    alerts = run(SLUG, [search(i, f) for i, f in enumerate(ENUM)])
    assert len(alerts) == 1
    assert "looked for 4 kinds of enumeration" in alerts[0].description  # fires at the 3rd
    assert alerts[0].count == 2  # ... and the 4th updates it


def test_sensitive_group_query_alone() -> None:
    alerts = run(SLUG, [search(0, "(&(objectCategory=user)(memberOf=CN=Domain Admins,CN=Users,"
                                  "DC=contoso,DC=local))")])
    assert len(alerts) == 1
    assert "members of Domain Admins" in alerts[0].description


def test_thresholds_and_learning() -> None:
    assert run(SLUG, [search(0, ENUM[0])]) == []
    assert len(run(SLUG, [search(0, ENUM[0])], threshold="low")) == 1
    # live: 15-day learning per computer records the types as normal
    assert run(SLUG, [search(i, f) for i, f in enumerate(ENUM)], mode="live") == []


def test_lab_quiet() -> None:
    assert 2038 not in ids_of(recording("benign_baseline"))
