"""Honeytoken was queried via LDAP: MDI external ID 2429.

An LDAP search targets a user tagged as honeytoken: an equality (or specific substring) clause
on one of its names (sAMAccountName, userPrincipalName, cn, name, displayName, ANR,
distinguishedName, objectSid) or a base object that is its DN. Broad enumerations whose
*results* merely include the decoy are not counted (spec: explicit targeting only).
Sources: LDAP SearchRequest on the wire (the bound identity of the connection is the actor),
Directory Service event 1644.
Known false positives: administrators reviewing the decoy, directory sync tools (exclude them).
DCs and local service identities are ignored.
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._common import (
    LdapBinds,
    display,
    host_ref,
    is_service_identity,
    rpc_source,
    rpc_target,
    source_key,
)
from dcwatch.detectors._honeytoken import Honeytokens
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, ip_ref, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind
MAX_QUERIES = 50  # distinct queries listed per alert


class HoneytokenLdapQuery(Detector):
    slug: ClassVar[str] = "honeytoken-ldap-query"
    external_id: ClassVar[int] = 2429
    title: ClassVar[str] = "Honeytoken was queried via LDAP"
    phase: ClassVar[Phase] = Phase.RECONNAISSANCE
    severity: ClassVar[Severity] = Severity.LOW
    mitre: ClassVar[tuple[str, ...]] = ("T1087", "T1087.002")
    handles: ClassVar[frozenset[str]] = frozenset({K.LDAP_SEARCH, K.LDAP_BIND})

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.honey = Honeytokens(self.resolver)
        self.binds = self.shared("ldap-binds", LdapBinds)
        self._queries: BoundedDict[dict[str, None]] = BoundedDict(10_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is K.LDAP_BIND:
            self.binds.observe(a)
            return []
        if not self.honey.active:
            return []
        f = a.fields
        flt = str(f.get("filter") or "")
        base = str(f.get("base_dn") or f.get("base") or "")
        hits = self.honey.in_filter(flt)
        token = hits[0][0] if hits else None
        if token is None and "," in base and "=" in base:
            token = self.honey.match(base)
        if token is None:
            return []
        wire = a.protocol not in (None, "event")
        actor = self.binds.actor(a) if wire else a.actor
        if actor is not None and ((is_service_identity(actor) and not actor.is_machine)
                                  or self.resolver.is_dc_account(actor)):
            return []
        ip, ws = rpc_source(a, self.resolver) if wire else (a.src_ip, a.src_host)
        dc = rpc_target(a, self.resolver) if wire else a.host
        key = f"{token}|{source_key(self.resolver, ip, ws)}"
        query = f"base {base or '(root)'} filter {flt or '(none)'}"
        queries = self._queries.setdefault(key, {})
        if len(queries) < MAX_QUERIES:
            queries[query] = None
        who = str(actor) if actor else "An unknown user"
        src = display(ws) if ws else (ip or "an unknown computer")
        return [self.draft(
            key=key,
            activities=[a],
            description=f"{who} on {src} queried honeytoken {token} over LDAP against "
                        f"{display(dc)}.",  # spec template; the queries are evidence
            entities=refs(EntityRef("user", token, "honeytoken"), user_ref(actor, "attacker"),
                          host_ref(ws, "source computer", ip),
                          ip_ref(ip, "source IP") if ws else None,
                          host_ref(dc, "domain controller")),
            evidence={k: v for k, v in (
                ("honeytoken", token),
                ("queries", [{"base": base, "filter": flt, "scope": f.get("scope_name")
                              or f.get("scope"), "attributes": f.get("attributes"),
                              "matched_clause": hits[0][1] if hits else "base object",
                              "entries_returned": f.get("entries",
                                                        f.get("entries_returned")),
                              "user": who, "time": a.ts.isoformat()}]),
                ("source_ip", ip), ("source_computer", display(ws) if ws else None),
                ("domain_controller", display(dc))) if v},
        )]
