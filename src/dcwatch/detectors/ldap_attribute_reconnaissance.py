"""Active Directory attributes reconnaissance (LDAP): MDI external ID 2210.

LDAP searches that select accounts by security-relevant attribute values: DES-only or
no-pre-authentication accounts, unconstrained/constrained/resource-based delegation, LAPS
passwords, key credential links. Fires on the first such query from a source; the queries of the
same source within ``window`` are gathered into that alert (what was hunted, each query with its
result count), so the description lists everything the source looked for.
Sources: LDAP SearchRequest on the wire (TCP 389/3268, UDP 389) and Directory Service event 1644.
Known false positives: admin tools and security assessments (exclude the source computer).
State: per source a SlidingWindow of at most 200 queries (1 h), BoundedDict of 10k sources.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._ldapq import attribute_hunts
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
from dcwatch.model.alert import AlertDraft, Phase, Severity


class LdapAttributeReconnaissance(Detector):
    slug: ClassVar[str] = "ldap-attribute-reconnaissance"
    external_id: ClassVar[int] = 2210
    title: ClassVar[str] = "Active Directory attributes reconnaissance (LDAP)"
    phase: ClassVar[Phase] = Phase.RECONNAISSANCE
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1087", "T1202", "T1069", "T1087.002", "T1069.002")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.LDAP_SEARCH})

    window: ClassVar[timedelta] = timedelta(hours=1)

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._recent: BoundedDict[SlidingWindow[tuple[Activity, tuple[str, ...]]]] = \
            BoundedDict(10_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        hunts = attribute_hunts(a.fields.get("filter"))
        if not hunts:
            return []
        ip, host = source(a, self.resolver)
        if ip and self.resolver.dc_status(ip)[0]:
            return []
        key = (ip or host or "?").lower()
        w = self._recent.get(key)
        if w is None:
            w = SlidingWindow[tuple[Activity, tuple[str, ...]]](self.window, 200)
            self._recent[key] = w
        w.add(a.ts, (a, tuple(hunts)))
        looked: list[str] = []
        for _, hs in w:
            looked += [h for h in hs if h not in looked]
        acts = [x for x, _ in w]
        found = sum(int(x.fields.get("entries") or 0) for x in acts)
        actor = next((x.actor for x in reversed(acts) if x.actor), None)
        dc = target_dc(a, self.resolver)
        n = len(acts)
        return [self.draft(
            key=key,
            activities=acts,
            description=(f"{acct_text(actor)} on {where(ip, host)} ran {n} suspicious LDAP "
                         f"quer{'y' if n == 1 else 'ies'} against {dc} looking for "
                         f"{', '.join(looked)}"
                         + (f"; {found} matching object(s) were returned." if found else
                            "; no object matched.")),
            entities=refs(user_ref(actor, "attacker"),
                          host_ref(host, "source computer", ip),
                          host_ref(dc, "target domain controller")),
            evidence={"queries": [{"filter": x.fields.get("filter"),
                                   "base": x.fields.get("base_dn"),
                                   "looked_for": list(hs),
                                   "entries": x.fields.get("entries")} for x, hs in w],
                      "looked_for": looked, "objects_returned": found,
                      "source_ip": ip, "source_computer": host},
        )]
