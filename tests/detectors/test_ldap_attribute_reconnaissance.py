"""2210 LDAP attribute reconnaissance."""

from __future__ import annotations

import pytest
from tests.detectors.ldaputil import search
from tests.detectors.netutil import alerts_of, ids_of, recording, run

SLUG = "ldap-attribute-reconnaissance"
UAC = "userAccountControl:1.2.840.113556.1.4.803:="


@pytest.mark.parametrize(("flt", "what"), [
    (f"(&(objectCategory=person)(objectClass=user)({UAC}4194304))", "pre-authentication"),
    (f"(&(objectCategory=person)(objectClass=user)({UAC}2097152))", "DES"),
    (f"(&(objectCategory=computer)(!(primaryGroupID=516)({UAC}524288)))", "unconstrained"),
    ("(&(objectClass=computer)(msDS-AllowedToActOnBehalfOfOtherIdentity=*))", "resource-based"),
])
def test_playbook_filters(flt: str, what: str) -> None:
    alerts = run(SLUG, [search(0, flt)])
    assert len(alerts) == 1
    assert what in alerts[0].description
    assert alerts[0].description.startswith("CONTOSO\\alice on 10.0.0.21 ran 1 suspicious LDAP")


def test_quiet_on_ordinary_queries_and_updates() -> None:
    assert run(SLUG, [search(0, "(&(objectClass=user)(sAMAccountName=bob))"),
                      search(1, f"(&(objectClass=user)(!({UAC}2)))")]) == []
    alerts = run(SLUG, [search(0, f"({UAC}4194304)"), search(5, "(msDS-AllowedToDelegateTo=*)")])
    assert len(alerts) == 1
    assert alerts[0].count == 2
    # the updated alert says everything the source hunted for, not only the last query
    assert "2 suspicious LDAP queries" in alerts[0].description
    assert "pre-authentication" in alerts[0].description
    assert "constrained delegation" in alerts[0].description
    assert [q["looked_for"] for q in alerts[0].evidence["queries"]] == [
        ["accounts without Kerberos pre-authentication (DONT_REQ_PREAUTH)"],
        ["constrained delegation"]]


def test_lab_recording_names_the_bound_user_and_every_hunt() -> None:
    alerts = alerts_of(recording("ldap_recon"), 2210)
    assert len(alerts) == 1
    d = alerts[0].description
    assert d.startswith("alice@contoso.local on ")  # the connection's simple bind
    for what in ("DONT_REQ_PREAUTH", "TRUSTED_FOR_DELEGATION", "constrained delegation"):
        assert what in d
    assert alerts[0].evidence["objects_returned"] == 3


def test_lab_quiet() -> None:
    assert 2210 not in ids_of(recording("benign_baseline"))
