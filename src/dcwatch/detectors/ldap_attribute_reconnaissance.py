"""Active Directory attributes reconnaissance (LDAP): MDI external ID 2210.

LDAP searches that select accounts by security-relevant attribute values: DES-only or
no-pre-authentication accounts, unconstrained/constrained/resource-based delegation, LAPS
passwords, key credential links. Fires on the first such query per source; later ones update.
Sources: LDAP SearchRequest on the wire (TCP 389/3268, UDP 389) and Directory Service event 1644.
Known false positives: admin tools and security assessments (exclude the source computer).
State: none (the engine's open alert per source).
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._ldapq import attribute_hunts
from dcwatch.detectors._netcommon import acct_text, source, target_dc, where
from dcwatch.detectors.base import Detector, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity


class LdapAttributeReconnaissance(Detector):
    slug: ClassVar[str] = "ldap-attribute-reconnaissance"
    external_id: ClassVar[int] = 2210
    title: ClassVar[str] = "Active Directory attributes reconnaissance (LDAP)"
    phase: ClassVar[Phase] = Phase.RECONNAISSANCE
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1087", "T1202", "T1069", "T1087.002", "T1069.002")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.LDAP_SEARCH})

    def observe(self, a: Activity) -> list[AlertDraft]:
        hunts = attribute_hunts(a.fields.get("filter"))
        if not hunts:
            return []
        ip, host = source(a, self.resolver)
        if ip and self.resolver.dc_status(ip)[0]:
            return []
        dc = target_dc(a, self.resolver)
        return [self.draft(
            key=(ip or host or "?").lower(),
            activities=[a],
            description=(f"{acct_text(a.actor)} on {where(ip, host)} ran suspicious LDAP "
                         f"queries against {dc} looking for {', '.join(hunts)}."),
            entities=refs(user_ref(a.actor, "attacker"),
                          host_ref(host, "source computer", ip),
                          host_ref(dc, "target domain controller")),
            evidence={"queries": [{"filter": a.fields.get("filter"),
                                   "base": a.fields.get("base_dn"),
                                   "entries": a.fields.get("entries")}],
                      "looked_for": hunts, "source_ip": ip, "source_computer": host},
        )]
