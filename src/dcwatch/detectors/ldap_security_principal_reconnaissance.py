"""Security principal reconnaissance (LDAP): MDI external ID 2038.

LDAP enumeration of security principals: each search is classified into enumeration types (all
users, computers, groups, SPN holders, admins, trusts, GPOs, OUs, members of a sensitive group).
Live mode learns for 15 days per computer which types it normally asks (threshold High); then
``min_types`` new types within ``window`` (or any new sensitive-group query) alert. ``scan`` and
thresholds Medium/Low have no history: ``min_types`` distinct types within ``window`` (Low: 1)
or a sensitive-group membership query alert.
Sources: LDAP SearchRequest on the wire and Directory Service event 1644.
Known false positives: inventory/IAM tools and admin consoles (exclude the computer).
State: per computer a learned type set (~300 B) and a SlidingWindow: ~5 MB per 10k computers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._ldapq import enumeration_types
from dcwatch.detectors._netcommon import acct_text, source, target_dc, where
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    SlidingWindow,
    refs,
    user_ref,
)
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity


class LdapSecurityPrincipalReconnaissance(Detector):
    slug: ClassVar[str] = "ldap-security-principal-reconnaissance"
    external_id: ClassVar[int] = 2038
    title: ClassVar[str] = "Security principal reconnaissance (LDAP)"
    phase: ClassVar[Phase] = Phase.CREDENTIAL_ACCESS
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1087", "T1087.002")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.LDAP_SEARCH})
    learning_period: ClassVar[timedelta | None] = timedelta(days=15)

    window: ClassVar[timedelta] = timedelta(minutes=30)
    min_types: ClassVar[int] = 3

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._normal: BoundedDict[set[str]] = BoundedDict(50_000)
        self._recent: BoundedDict[SlidingWindow[tuple[Activity, tuple[str, ...]]]] = \
            BoundedDict(10_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        types, group = enumeration_types(a)
        if not types:
            return []
        ip, host = source(a, self.resolver)
        key = (ip or host or "").lower()
        if not key or (ip and self.resolver.dc_status(ip)[0]):
            return []
        if self.learning(key, a.ts):
            self._normal.setdefault(key, set()).update(types)
            return []
        new = [t for t in types if t not in self._normal.get(key, set())]
        if not new:
            return []
        w = self._recent.get(key)
        if w is None:
            w = SlidingWindow[tuple[Activity, tuple[str, ...]]](self.window, 500)
            self._recent[key] = w
        w.add(a.ts, (a, tuple(new)))
        seen = sorted({t for _, ts in w for t in ts})
        need = 1 if self.threshold == "low" else self.min_types
        if len(seen) < need and not group:
            return []
        dc = target_dc(a, self.resolver)
        extra = f" plus members of {group}" if group else ""
        return [self.draft(
            key=key,
            activities=[x for x, _ in w],
            description=(f"Suspicious LDAP queries from {acct_text(a.actor)} on "
                         f"{where(ip, host)} to {dc} looked for {len(seen)} kinds of "
                         f"enumeration ({', '.join(seen)}){extra}."),
            entities=refs(user_ref(a.actor, "attacker"),
                          host_ref(host, "source computer", ip),
                          host_ref(dc, "target domain controller"),
                          EntityRef("group", group, "queried sensitive group") if group
                          else None),
            evidence={"enumeration_types": seen, "sensitive_group": group,
                      "queries": [{"filter": x.fields.get("filter"),
                                   "base": x.fields.get("base_dn")} for x, _ in w][:50],
                      "source_ip": ip, "source_computer": host},
        )]
