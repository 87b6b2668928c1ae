"""Suspicious Kerberos delegation attempt using BronzeBit method (CVE-2020-17049 exploitation):
MDI external ID 2048.

A service that may not delegate a user (the user is sensitive / Protected Users, or the
service lacks protocol transition) still gets the KDC's S4U2self ticket for that user, but
without the forwardable flag. The Bronze Bit attacker decrypts that ticket with the service's
own key, sets forwardable and re-encrypts it, then presents it as the evidence ticket of an
S4U2proxy request. The flag is inside ciphertext dcwatch cannot read, but re-encryption
changes the cipher: the additional ticket of the S4U2proxy request is not the one the KDC just
issued to that source for that service.
Sources: Kerberos on the wire: a successful S4U2self TGS-REQ/TGS-REP (PA-FOR-USER) records the
issued ticket's fingerprint; an S4U2proxy TGS-REQ (cname-in-addl-tkt) from the same source
within ``window`` whose additional ticket for that service has another fingerprint and was
never seen issued by the KDC.
Known false positive: services configured for constrained delegation with protocol transition
present the KDC's ticket unchanged: quiet. A service reusing an S4U2self ticket obtained
before the capture started, right after a new S4U2self, would look alike (``window`` small).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from dcwatch.detectors._common import actor_text, display, host_ref, rpc_source, rpc_target
from dcwatch.detectors._netcommon import KRB_ERR_NAMES, wire
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    ip_ref,
    refs,
    user_ref,
)
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

K = ActivityKind
S4U2PROXY_OPTION = "constrained-delegation"  # KDCOptions bit 14, cname-in-addl-tkt (MS-SFU)


@dataclass(slots=True)
class _Self:
    """One S4U2self ticket the KDC issued."""

    ts: datetime
    user: str
    service: str
    fingerprint: str
    activity: Activity
    requester: Account | None


class BronzeBit(Detector):
    slug: ClassVar[str] = "bronze-bit"
    external_id: ClassVar[int] = 2048
    title: ClassVar[str] = ("Suspicious Kerberos delegation attempt using BronzeBit method "
                            "(CVE-2020-17049 exploitation)")
    phase: ClassVar[Phase] = Phase.CREDENTIAL_ACCESS
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1558",)
    handles: ClassVar[frozenset[str]] = frozenset({K.KERBEROS_TGS})

    window: ClassVar[timedelta] = timedelta(minutes=2)  # S4U2self -> S4U2proxy (tools: < 1 s)

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._issued: BoundedDict[list[_Self]] = BoundedDict(50_000)  # source IP -> recent

    def observe(self, a: Activity) -> list[AlertDraft]:
        if not wire(a) or not a.src_ip:
            return []
        f = a.fields
        if f.get("s4u_user"):
            fp, svc = f.get("ticket_fingerprint"), f.get("sname")
            if a.outcome == "success" and fp and svc:
                recent = [s for s in self._issued.get(a.src_ip) or []
                          if a.ts - s.ts <= self.window]
                recent.append(_Self(a.ts, str(f["s4u_user"]), str(svc), str(fp), a, a.actor))
                self._issued[a.src_ip] = recent[-20:]
            return []
        if S4U2PROXY_OPTION not in (f.get("kdc_options") or []):
            return []
        for t in f.get("additional_tickets") or []:
            if t.get("owner") or not t.get("fingerprint"):
                continue  # the KDC issued this very ticket in clear: not re-encrypted
            issued = self._match(a, str(t.get("sname") or ""))
            if issued is not None and issued.fingerprint != t["fingerprint"]:
                return self._fire(a, issued, str(t["fingerprint"]))
        return []

    def _match(self, a: Activity, sname: str) -> _Self | None:
        best = None
        for s in self._issued.get(a.src_ip or "") or []:
            if a.ts - s.ts > self.window or s.ts > a.ts:
                continue
            if sname and s.service.lower() != sname.lower():
                continue
            best = s
        return best

    def _fire(self, a: Activity, issued: _Self, presented: str) -> list[AlertDraft]:
        service = a.actor or issued.requester or Account(issued.service.split("@", 1)[0])
        name, _, realm = issued.user.partition("@")
        user = Account(name, realm or None)
        ip, ws = rpc_source(a, self.resolver)
        dc = rpc_target(a, self.resolver)
        target = a.fields.get("sname") or "a service"
        verb = "obtained" if a.outcome == "success" else "tried to obtain"
        result = ""
        if a.outcome == "failure" and a.status is not None:
            # 31/41: the KDC saw the ticket was altered (PAC ticket signature, the CVE fix)
            result = f" The KDC refused it ({KRB_ERR_NAMES.get(a.status, a.status)})."
        return [self.draft(
            key=f"{(service.name or '?').lower()}|{name.lower()}",
            activities=[issued.activity, a],
            description=f"{actor_text(service, issued.service)} on {display(ws or ip)} "
                        f"{verb} a ticket to {target} as {issued.user} from {display(dc)} with "
                        f"a tampered S4U2self ticket (re-encrypted after the KDC issued it: "
                        f"BronzeBit forwardable-flag forgery, CVE-2020-17049).{result}",
            entities=refs(user_ref(service, "delegating service"),
                          user_ref(user, "impersonated user"),
                          host_ref(ws, "source computer", ip),
                          ip_ref(ip, "source IP") if ws else None,
                          host_ref(dc, "domain controller")),
            evidence={k: v for k, v in (
                ("delegating_service", issued.service), ("impersonated_user", issued.user),
                ("target_service", target), ("source_ip", ip), ("source_computer", ws),
                ("issued_ticket", issued.fingerprint), ("presented_ticket", presented),
                ("outcome", a.outcome),
                ("status", KRB_ERR_NAMES.get(a.status, a.status) if a.status else None)) if v},
            require_dc=a.dst_ip, assume_dc=False,
        )]
