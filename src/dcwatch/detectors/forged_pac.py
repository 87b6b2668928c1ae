"""Suspected Golden Ticket usage (forged authorization data): MDI external ID 2013.

MS14-068-style privilege escalation: the client gets a TGT *without* a PAC (AS-REQ with
PA-PAC-REQUEST include-pac = FALSE) and then presents that TGT in a TGS-REQ carrying its own
authorization data (``enc_authorization_data`` of the request body). The KDC's answer says
whether it worked (TGS-REP) or failed (KRB-ERROR, e.g. KRB_AP_ERR_MODIFIED).
When the decoder does not report ``enc_authorization_data`` the PAC-less TGT being used for a
TGS-REQ is the signal (threshold Low: immediate by design). When the KDC answers the forged
request with a ticket, the next request presenting that ticket says whether the escalation
worked (lab, Samba 4.17: the TGT is issued, its use for cifs/ is refused with BADOPTION).
Sources: wire Kerberos only.
Known false positives: Linux/Unix services that legitimately request PAC-less tickets and add
their own authorization data.
State: PAC-less TGT fingerprints and tickets issued to forged requests (BoundedDicts, ~100-300 B
each, 10k caps): ~4 MB.
"""

from __future__ import annotations

from dataclasses import dataclass
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


def _err(status: int | None) -> str:
    """A KRB-ERROR code by name when known."""
    return KRB_ERR_NAMES.get(status, str(status)) if status is not None else "no answer"


@dataclass(frozen=True, slots=True)
class _Forged:
    """A ticket the KDC issued in answer to a request with forged authorization data."""

    key: str
    text: str
    actor: Account | None
    service: str


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
        self._forged: BoundedDict[_Forged] = BoundedDict(10_000)  # tickets the KDC issued

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
        if used and used in self._forged:
            return self._follow_up(a, self._forged[used])
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
            result = f"the KDC refused it ({_err(a.status)})"
        text = (f"{acct_text(actor)} on {where(ip, host)} {verb} {dc} for {svc} with forged "
                f"authorization data ({result})")
        key = f"{(ip or '?')}|{(actor.name if actor else '') or ''}".lower()
        if a.outcome == "success" and f.get("ticket_fingerprint"):
            # what the attacker does next with that ticket says whether the escalation worked
            self._forged[f["ticket_fingerprint"]] = _Forged(key, text, actor, svc)
        return [self.draft(
            key=key,
            activities=[a],
            description=text + ".",
            entities=refs(user_ref(actor, "attacker"),
                          host_ref(host, "source computer", norm_ip(ip)),
                          host_ref(dc, "target domain controller")),
            evidence={k: v for k, v in (
                ("pac_less_tgt", used), ("service", svc), ("outcome", a.outcome),
                ("status", a.status),
                ("enc_authorization_data", f.get("enc_authorization_data")),
                ("enc_authorization_data_etype", f.get("enc_authorization_data_etype")),
                ("source_ip", ip), ("source_computer", host)) if v is not None},
        )]

    def _follow_up(self, a: Activity, forged: _Forged) -> list[AlertDraft]:
        """The ticket the forged request obtained is used: did the escalation work?"""
        svc = a.fields.get("sname") or "a service"
        if a.outcome == "success":
            then = f"the KDC then issued a ticket for {svc} with it"
        else:
            then = f"using it for {svc} was refused ({_err(a.status)})"
        return [self.draft(
            key=forged.key,
            activities=[a],
            description=f"{forged.text}; {then}.",
            evidence={"follow_up": [{"service": svc, "outcome": a.outcome, "status": a.status,
                                     "time": a.ts.isoformat()}]},
        )]
