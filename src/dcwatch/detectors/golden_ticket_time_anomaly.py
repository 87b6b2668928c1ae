"""Suspected Golden Ticket usage (time anomaly): MDI external ID 2022.

A TGT is still presented in TGS-REQs longer than the maximum user-ticket lifetime allows
(``max_ticket_age``, the Default Domain Policy's MaxTicketAge, 10 h by default, plus 5 min skew)
after the KDC issued it, or after it was first seen when its issue predates the data. Renewal
gives a new cipher (a new fingerprint), so one fingerprint should never live longer.
Sources: wire Kerberos only.
Known false positives: a recent change of MaxTicketAge (set ``max_ticket_age``), clock jumps
of the sensor (a VM resumed from a saved state).
State: ``TgtTracker`` (shared by the family, ~10 MB per 10k accounts).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._golden import TgtTracker
from dcwatch.detectors._netcommon import ANONYMOUS_PRINCIPALS, source, target_dc, where
from dcwatch.detectors.base import DetectionContext, Detector, refs
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity


class GoldenTicketTimeAnomaly(Detector):
    slug: ClassVar[str] = "golden-ticket-time-anomaly"
    external_id: ClassVar[int] = 2022
    title: ClassVar[str] = "Suspected Golden Ticket usage (time anomaly)"
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1558", "T1558.001")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.KERBEROS_AS,
                                                   ActivityKind.KERBEROS_TGS})

    max_ticket_age: ClassVar[timedelta] = timedelta(hours=10)
    skew: ClassVar[timedelta] = timedelta(minutes=5)

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.tgts = self.shared("golden-tgt-tracker", TgtTracker)

    def observe(self, a: Activity) -> list[AlertDraft]:
        use = self.tgts.observe(a)
        if use is None or a.outcome != "success":
            return []
        age = a.ts - use.first_seen
        if age <= self.max_ticket_age + self.skew:
            return []
        cname = a.fields.get("reply_cname") or (a.actor.name if a.actor else None)
        user = cname if cname and cname.lower() not in ANONYMOUS_PRINCIPALS else None
        issue = self.tgts.ledger.get(use.fingerprint)
        if issue is not None and issue.account is not None:
            user = issue.account.name
        _, host = source(a, self.resolver)
        dc = target_dc(a, self.resolver)
        hours = age.total_seconds() / 3600
        return [self.draft(
            key=use.fingerprint,
            activities=[a],
            description=(f"{user or 'An unknown account'} used a Kerberos ticket in a way that "
                         f"suggests a Golden Ticket attack: a TGT "
                         f"{'issued' if use.issued else 'first seen'} {hours:.1f} hours earlier "
                         f"(maximum lifetime {self.max_ticket_age}) was presented from "
                         f"{where(use.src_ip, host)} to {dc}."),
            entities=refs(EntityRef("user", user, "impersonated account") if user else None,
                          host_ref(host, "source computer", use.src_ip),
                          host_ref(dc, "target domain controller")),
            evidence={"ticket_fingerprint": use.fingerprint, "issued_seen": use.issued,
                      "first_seen": use.first_seen.isoformat(), "age_hours": round(hours, 2),
                      "max_ticket_age_hours": self.max_ticket_age.total_seconds() / 3600,
                      "service": a.fields.get("sname"), "source_ip": use.src_ip},
        )]
