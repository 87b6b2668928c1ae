"""Suspected Golden Ticket usage (encryption downgrade): MDI external ID 2009.

A TGT encrypted with RC4/DES that the KDC never issued is presented in a TGS-REQ while the KDC
issues AES TGTs (krbtgt has AES keys): a forged ticket made from krbtgt's NT hash. The KDC
accepts it (Windows), or refuses it because it cannot decrypt it (a KDC holding no RC4 key for
krbtgt, such as Samba 4.17, answers KRB_AP_ERR_BADKEYVER): both are the presentation the spec
describes, and the description says which. Other refusals (expired, revoked) do not count.
Learning: 5 days from the start of DC monitoring (live mode): the KDC's TGT etypes and each
source's TGT etypes are recorded; threshold High then also demands that the source was seen
using AES TGTs. ``scan`` demands that the data shows the KDC issuing AES TGTs.
Sources: wire Kerberos only.
Known false positives: resources or apps without strong ciphers; apps acting for users.
State: ``TgtTracker`` (shared by the family, ~10 MB per 10k accounts) + source profile
(BoundedDict, ~100 B each).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._golden import TgtTracker
from dcwatch.detectors._netcommon import (
    AES,
    ANONYMOUS_PRINCIPALS,
    KRB_AP_ERR_BAD_INTEGRITY,
    KRB_AP_ERR_BADKEYVER,
    KRB_AP_ERR_MODIFIED,
    KRB_ERR_NAMES,
    WEAK,
    etype_name,
    source,
    target_dc,
    where,
)
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, refs
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

# KDC answers meaning it could not read the TGT with its krbtgt key (RFC 4120 7.5.9)
UNREADABLE_TICKET = frozenset({KRB_AP_ERR_BAD_INTEGRITY, KRB_AP_ERR_MODIFIED,
                               KRB_AP_ERR_BADKEYVER})


class GoldenTicketEncryptionDowngrade(Detector):
    slug: ClassVar[str] = "golden-ticket-encryption-downgrade"
    external_id: ClassVar[int] = 2009
    title: ClassVar[str] = "Suspected Golden Ticket usage (encryption downgrade)"
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1558", "T1558.001")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.KERBEROS_AS,
                                                   ActivityKind.KERBEROS_TGS})
    learning_period: ClassVar[timedelta | None] = timedelta(days=5)

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.tgts = self.shared("golden-tgt-tracker", TgtTracker)
        self._aes_sources: BoundedDict[bool] = BoundedDict(100_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        use = self.tgts.observe(a)
        if use is None or not use.src_ip:
            return []
        if use.etype in AES:
            self._aes_sources[use.src_ip] = True
        if self.learning(a.host or "kdc", a.ts):
            return []
        # accepted, or refused because the KDC could not decrypt it (a KDC holding no RC4 key
        # for krbtgt, e.g. Samba 4.17, answers KRB_AP_ERR_BADKEYVER): both are the presentation
        # the spec describes; other refusals (expired, revoked) say nothing about the key
        refused = a.outcome == "failure" and a.status in UNREADABLE_TICKET
        if use.issued or use.etype not in WEAK or not (a.outcome == "success" or refused):
            return []
        if not self.tgts.ledger.kdc_issues_aes_tgts():
            return []
        live_high = self.ctx.config.mode == "live" and self.threshold == "high"
        if live_high and not self._aes_sources.get(use.src_ip):
            return []
        _, host = source(a, self.resolver)
        src = where(use.src_ip, host)
        dc = target_dc(a, self.resolver)
        svc = a.fields.get("sname") or "a service"
        cname = a.fields.get("reply_cname")
        user = cname if cname and cname.lower() not in ANONYMOUS_PRINCIPALS else None
        answer = (f" {dc} refused it ({KRB_ERR_NAMES.get(a.status or 0, a.status)})."
                  if refused else "")
        return [self.draft(
            key=use.src_ip,
            activities=[a],
            description=(f"A TGS_REQ sent by {src} to reach {svc} used weaker encryption "
                         f"({etype_name(use.etype)}) than expected: the TGT inside it was never "
                         f"issued by {dc}, which issues AES TGTs; a Golden Ticket may be in use "
                         f"on {src}" + (f" for {user}." if user else ".") + answer),
            entities=refs(EntityRef("user", user, "impersonated account") if user else None,
                          host_ref(host, "source computer", use.src_ip),
                          host_ref(dc, "target domain controller")),
            evidence={"request_ticket_encryption_type": etype_name(use.etype),
                      "source_computer_supported_etypes":
                          [etype_name(e) for e in a.fields.get("etypes") or ()],
                      "kdc_tgt_etypes": sorted(etype_name(e)
                                               for e in self.tgts.ledger.tgt_etypes),
                      "ticket_fingerprint": use.fingerprint, "service": svc,
                      "source_ip": use.src_ip, "source_computer": host,
                      "kdc_answer": KRB_ERR_NAMES.get(a.status or 0, a.status) if refused
                      else "accepted"},
        )]
