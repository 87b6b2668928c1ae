"""Account Enumeration reconnaissance (LDAP): MDI external ID 2437.

CLDAP "LDAP pings" (UDP 389 rootDSE searches for ``Netlogon`` with a ``(User=...)`` clause,
MS-ADTS 6.3.3) used as an account-existence oracle: one source asks about ``min_names`` distinct
user names within ``window``. Normal clients ping with their own machine account name only.
Sources: LDAP SearchRequest on the wire; the opcode of the DC's Netlogon answer (23/19: an
account matched, 25/21: unknown; checked against Samba 4.17, which needs an ``AAC`` clause to
match any account) tells which names exist.
Known false positives: none common (exclude the source if a product really does this).
State: per source a SlidingWindow of names (10 min) in a BoundedDict of 10k sources: ~2 MB.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._ldapq import cldap_user
from dcwatch.detectors._netcommon import source, target_dc, where
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    SlidingWindow,
    refs,
)
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

# MS-ADTS 6.3.1.9 opcodes of the ping's Netlogon answer: an account matched User/AAC, or none
EXISTS = frozenset({19, 23})  # LOGON_SAM_LOGON_RESPONSE(_EX)
UNKNOWN = frozenset({21, 25})  # LOGON_SAM_USER_UNKNOWN(_EX)


class AccountEnumerationLdap(Detector):
    slug: ClassVar[str] = "account-enumeration-ldap"
    external_id: ClassVar[int] = 2437
    title: ClassVar[str] = "Account Enumeration reconnaissance (LDAP)"
    phase: ClassVar[Phase] = Phase.RECONNAISSANCE
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1087", "T1087.002")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.LDAP_SEARCH})

    window: ClassVar[timedelta] = timedelta(minutes=10)
    min_names: ClassVar[int] = 20

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._recent: BoundedDict[SlidingWindow[Activity]] = BoundedDict(10_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        name = cldap_user(a)
        if not name or name.endswith("$"):
            return []
        ip, host = source(a, self.resolver)
        if not ip:
            return []
        w = self._recent.get(ip)
        if w is None:
            w = SlidingWindow[Activity](self.window, 5000)
            self._recent[ip] = w
        w.add(a.ts, a)
        names = sorted({cldap_user(x) or "" for x in w} - {""})
        if len(names) < self.min_names:
            return []
        found = sorted({cldap_user(x) or "" for x in w
                        if x.fields.get("netlogon_opcode") in EXISTS} - {""})
        unknown = {cldap_user(x) for x in w if x.fields.get("netlogon_opcode") in UNKNOWN}
        dc = target_dc(a, self.resolver)
        text = f"{len(names)} names tried"
        if found or unknown:  # the DC's answers were seen: say what the attacker learned
            text += (f", {len(found)} existing account(s) found"
                     + (f" ({', '.join(found[:10])}{', ...' if len(found) > 10 else ''})"
                        if found else ""))
        return [self.draft(
            key=ip,
            activities=w.items(),
            description=f"{where(ip, host)} ran LDAP-based account enumeration against {dc}: "
                        f"{text}.",
            entities=refs(host_ref(host, "source computer", ip),
                          host_ref(dc, "target domain controller"),
                          *(EntityRef("user", n, "existing account") for n in found[:50])),
            evidence={k: v for k, v in (
                ("names_tried", names[:500]), ("existing_accounts", found[:500]),
                ("unknown_names", len(unknown - {None, ""}) if unknown else None),
                ("source_ip", ip), ("source_computer", host),
                ("domain_controller", dc)) if v is not None},
        )]
