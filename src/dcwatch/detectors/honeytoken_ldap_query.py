"""Honeytoken was queried via LDAP: MDI external ID 2429.

An LDAP search explicitly targets an account tagged as a honeytoken (``--honeytoken``): an
equality/substring clause on sAMAccountName, userPrincipalName, cn, name, displayName or
distinguishedName naming it, or a search based at its DN. Broad enumerations whose results
merely include it do not count (spec: explicit targeting only).
Sources: LDAP SearchRequest on the wire and event 1644.
State: none.
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._ldapq import clauses
from dcwatch.detectors._netcommon import acct_text, source, target_dc, where
from dcwatch.detectors.base import Detector, computer_ref, refs, user_ref
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

NAME_ATTRS = frozenset({"samaccountname", "userprincipalname", "cn", "name", "displayname",
                        "distinguishedname", "anr"})


class HoneytokenLdapQuery(Detector):
    slug: ClassVar[str] = "honeytoken-ldap-query"
    external_id: ClassVar[int] = 2429
    title: ClassVar[str] = "Honeytoken was queried via LDAP"
    phase: ClassVar[Phase] = Phase.RECONNAISSANCE
    severity: ClassVar[Severity] = Severity.LOW
    mitre: ClassVar[tuple[str, ...]] = ("T1087", "T1087.002")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.LDAP_SEARCH})

    def observe(self, a: Activity) -> list[AlertDraft]:
        if not self.resolver.honeytokens:
            return []
        hit = None
        for attr, _r, _op, value in clauses(a.fields.get("filter")):
            if attr in NAME_ATTRS:
                v = value.replace("*", "")
                if attr == "distinguishedname" and v.lower().startswith("cn="):
                    v = v.split(",", 1)[0][3:]
                if v and self.resolver.is_honeytoken(Account(v)):
                    hit = v
        base = str(a.fields.get("base_dn") or "")
        if hit is None and base.lower().startswith("cn="):
            cn = base.split(",", 1)[0][3:].replace("\\", "")
            if self.resolver.is_honeytoken(Account(cn)):
                hit = cn
        if hit is None:
            return []
        ip, host = source(a, self.resolver)
        dc = target_dc(a, self.resolver)
        return [self.draft(
            key=f"{(ip or host or '?').lower()}|{hit.lower()}",
            activities=[a],
            description=(f"{acct_text(a.actor)} on {where(ip, host)} queried honeytoken {hit} "
                         f"over LDAP against {dc}."),
            entities=refs(user_ref(a.actor, "attacker"), EntityRef("user", hit, "honeytoken"),
                          computer_ref(host, "source computer", ip),
                          computer_ref(dc, "target domain controller")),
            evidence={"filter": a.fields.get("filter"), "base": base, "honeytoken": hit,
                      "source_ip": ip, "source_computer": host},
        )]
