"""2429 Honeytoken was queried via LDAP: bound identity, event 1644, substring rules.

(test_honeytoken_ldap_query.py holds the LDAP-team's spec-template cases.)"""

from __future__ import annotations

from tests.detectors.conftest import USER, act, run

from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "honeytoken-ldap-query"


def _wire(kind: K, ts: float, **kw) -> object:
    return act(kind, ts, host="10.0.0.10", protocol="ldap", src_ip="10.0.0.21", src_port=50001,
               dst_ip="10.0.0.10", dst_port=389, **kw)


def test_actor_comes_from_the_bind_of_the_connection() -> None:
    acts = [_wire(K.LDAP_BIND, 0, actor=Account("CONTOSO\\mallory"), outcome="success"),
            _wire(K.LDAP_SEARCH, 1, outcome="success",
                  fields={"filter": "(&(objectClass=user)(userPrincipalName=backup.admin@"
                                    "contoso.local))", "base_dn": "DC=contoso,DC=local"})]
    alerts = run(acts, SLUG, honeytokens=["backup.admin"])
    assert len(alerts) == 1
    assert alerts[0].description.startswith("CONTOSO\\mallory on 10.0.0.21 queried honeytoken")
    assert "userPrincipalName=backup.admin" in alerts[0].evidence["queries"][0]["matched_clause"]


def test_event_1644_and_substring_specificity() -> None:
    ev = act(K.LDAP_SEARCH, 0, actor=USER, src_ip="10.0.0.21",
             fields={"filter": "(sAMAccountName=backup*)", "base": "DC=corp,DC=local"})
    assert len(run([ev], SLUG, honeytokens=["backup.admin"])) == 1
    broad = act(K.LDAP_SEARCH, 0, actor=USER, src_ip="10.0.0.21",
                fields={"filter": "(sAMAccountName=b*)", "base": "DC=corp,DC=local"})
    assert run([broad], SLUG, honeytokens=["backup.admin"]) == []
