"""Suspected Golden Ticket usage (nonexistent account): MDI external ID 2027.

A TGT the KDC never issued names an account that does not exist: the KDC answers the TGS-REQ
with KDC_ERR_C_PRINCIPAL_UNKNOWN, or accepts it and names in the TGS-REP a client the same KDC
answered KDC_ERR_C_PRINCIPAL_UNKNOWN for in an AS exchange (it told us the name is not there).
With a directory feed, ``known_accounts`` lets the resolver's account list decide too.
Sources: wire Kerberos only.
Known false positives: replication lag for just-created or just-deleted accounts.
State: ``TgtTracker`` (shared by the family, ~10 MB per 10k accounts) + names the KDC called
unknown (BoundedDict, ~100 B each, 50k cap).
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._golden import TgtTracker
from dcwatch.detectors._netcommon import (
    ANONYMOUS_PRINCIPALS,
    KDC_ERR_C_PRINCIPAL_UNKNOWN,
    source,
    target_dc,
    where,
    wire,
)
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, refs
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity


class GoldenTicketNonexistentAccount(Detector):
    slug: ClassVar[str] = "golden-ticket-nonexistent-account"
    external_id: ClassVar[int] = 2027
    title: ClassVar[str] = "Suspected Golden Ticket usage (nonexistent account)"
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1558", "T1068", "T1210", "T1558.001")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.KERBEROS_AS,
                                                   ActivityKind.KERBEROS_TGS})

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.tgts = self.shared("golden-tgt-tracker", TgtTracker)
        self._unknown: BoundedDict[bool] = BoundedDict(50_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is ActivityKind.KERBEROS_AS and wire(a) and a.actor and a.actor.name:
            name = a.actor.name.lower()
            if a.status == KDC_ERR_C_PRINCIPAL_UNKNOWN:
                self._unknown[name] = True
            elif a.status is not None:
                self._unknown.pop(name, None)  # the KDC knows it (now)
        use = self.tgts.observe(a)
        if use is None or use.issued:
            return []
        cname = a.fields.get("reply_cname") or (a.actor.name if a.actor else None)
        if cname and cname.lower() in ANONYMOUS_PRINCIPALS:
            cname = None
        if a.status == KDC_ERR_C_PRINCIPAL_UNKNOWN:
            why = "the KDC answered KDC_ERR_C_PRINCIPAL_UNKNOWN to the TGS-REQ"
        elif a.outcome == "success" and cname and self._unknown.get(cname.lower()):
            why = "the KDC answered KDC_ERR_C_PRINCIPAL_UNKNOWN for this name in an AS exchange"
        else:
            return []
        realm = a.fields.get("realm") or ""
        name = f"{realm.split('.', 1)[0].upper()}\\{cname}" if cname and realm else (
            cname or "an unnamed principal")
        _, host = source(a, self.resolver)
        src = where(use.src_ip, host)
        dc = target_dc(a, self.resolver)
        svc = a.fields.get("sname")
        return [self.draft(
            key=(cname or use.fingerprint).lower(),
            activities=[a],
            description=(f"A Kerberos ticket for {name}, an account that is not in Active "
                         f"Directory, was used from {src} against {svc or 'a service'} on {dc} "
                         f"- a possible Golden Ticket."),
            entities=refs(EntityRef("user", name, "nonexistent account"),
                          host_ref(host, "source computer", use.src_ip),
                          host_ref(dc, "target domain controller")),
            evidence={"reason": why, "account": name, "service": svc,
                      "ticket_fingerprint": use.fingerprint, "source_ip": use.src_ip,
                      "source_computer": host, "status": a.status},
        )]
