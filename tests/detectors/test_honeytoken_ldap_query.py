"""2429 honeytoken queried via LDAP."""

from __future__ import annotations

from dcwatch.detectors.engine import Engine
from dcwatch.entities.resolver import Resolver
from tests.detectors.ldaputil import search
from tests.detectors.netutil import ids_of, recording

SLUG = "honeytoken-ldap-query"


def run_with(tokens: list[str], acts: list) -> list:  # noqa: ANN001
    return Engine(Resolver(honeytokens=tokens), slugs=[SLUG]).run(acts)


def test_explicit_targeting() -> None:
    alerts = run_with(["svc_backup_old"], [search(0, "(sAMAccountName=svc_backup_old)")])
    assert len(alerts) == 1
    assert alerts[0].description == ("CONTOSO\\alice on 10.0.0.21 queried honeytoken "
                                     "svc_backup_old over LDAP against 10.0.0.10.")
    assert run_with(["svc_backup_old"], [search(0, "(objectClass=*)",
                    base="CN=svc_backup_old,CN=Users,DC=contoso,DC=local")])


def test_quiet_on_broad_queries_or_without_tags() -> None:
    assert run_with(["svc_backup_old"], [search(0, "(objectClass=user)")]) == []
    assert run_with([], [search(0, "(sAMAccountName=svc_backup_old)")]) == []


def test_lab_quiet() -> None:
    assert 2429 not in ids_of(recording("benign_baseline"))
