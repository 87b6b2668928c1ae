"""2437 account enumeration over CLDAP pings."""

from __future__ import annotations

from tests.detectors.ldaputil import search
from tests.detectors.netutil import ids_of, recording, run

SLUG = "account-enumeration-ldap"


def ping(i: int, name: str):
    return search(i * 0.1, f"(&(DnsDomain=contoso.local)(User={name})(NtVer=\\06\\00\\00\\00))",
                  base="", attrs=["Netlogon"], cldap=True, entries=1)


def test_many_names_from_one_source() -> None:
    alerts = run(SLUG, [ping(i, f"user{i}") for i in range(20)])
    assert len(alerts) == 1
    assert "20 names tried" in alerts[0].description
    assert run(SLUG, [ping(i, f"user{i}") for i in range(19)]) == []


def test_machine_pings_do_not_count() -> None:
    assert run(SLUG, [ping(i, "WS1$") for i in range(30)]) == []


def test_lab_quiet() -> None:
    assert 2437 not in ids_of(recording("benign_baseline"))
