"""Suspected Golden Ticket usage (forged authorization data): MDI external ID 2013.

MS14-068-style privilege escalation: the client gets a TGT *without* a PAC (AS-REQ with
PA-PAC-REQUEST include-pac = FALSE) and then presents that TGT in a TGS-REQ carrying its own
authorization data (``enc_authorization_data`` of the request body). The KDC's answer says
whether it worked (TGS-REP) or failed (KRB-ERROR, e.g. KRB_AP_ERR_MODIFIED).
When the decoder does not report ``enc_authorization_data`` the PAC-less TGT being used for a
TGS-REQ is the signal (threshold Low: immediate by design).
Sources: wire Kerberos only.
Known false positives: Linux/Unix services that legitimately request PAC-less tickets and add
their own authorization data.
State: PAC-less TGT fingerprints (BoundedDict, ~100 B each, 10k cap): ~1 MB.
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import (
    KRB_ERR_NAMES,
    acct_text,
    norm_ip,
    source,
    target_dc,
    where,
    wire,
)
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    refs,
    user_ref,
)
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity


class ForgedPac(Detector):
    slug: ClassVar[str] = "forged-pac"
    external_id: ClassVar[int] = 2013
    title: ClassVar[str] = "Suspected Golden Ticket usage (forged authorization data)"
    phase: ClassVar[Phase] = Phase.CREDENTIAL_ACCESS
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1558", "T1558.001")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.KERBEROS_AS,
                                                   ActivityKind.KERBEROS_TGS})

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._no_pac: BoundedDict[Account | None] = BoundedDict(10_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        if not wire(a):
            return []
        f = a.fields
        if a.kind is ActivityKind.KERBEROS_AS:
            if f.get("include_pac") is False and a.outcome == "success" and \
                    f.get("ticket_fingerprint"):
                self._no_pac[f["ticket_fingerprint"]] = a.actor
            return []
        used = f.get("used_ticket_fingerprint")
        if not used or used not in self._no_pac:
            return []
        if "enc_authorization_data" in f and not f["enc_authorization_data"]:
            return []
        actor = self._no_pac[used]
        ip, host = source(a, self.resolver)
        dc = target_dc(a, self.resolver)
        svc = f.get("sname") or "a service"
        if a.outcome == "success":
            verb = "tried to gain privileges on"
            result = "the KDC issued the ticket"
        else:
            verb = "failed to gain privileges on"
            result = f"the KDC refused it ({KRB_ERR_NAMES.get(a.status, a.status)})"
        return [self.draft(
            key=f"{(ip or '?')}|{(actor.name if actor else '') or ''}".lower(),
            activities=[a],
            description=(f"{acct_text(actor)} on {where(ip, host)} {verb} {dc} for {svc} with "
                         f"forged authorization data ({result})."),
            entities=refs(user_ref(actor, "attacker"),
                          host_ref(host, "source computer", norm_ip(ip)),
                          host_ref(dc, "target domain controller")),
            evidence={"pac_less_tgt": used, "service": svc, "outcome": a.outcome,
                      "status": a.status,
                      "enc_authorization_data": f.get("enc_authorization_data"),
                      "source_ip": ip, "source_computer": host},
        )]
