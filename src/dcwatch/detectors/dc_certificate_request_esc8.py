"""Suspicious Domain Controller certificate request (ESC8): MDI external ID 2432.

A certificate that can authenticate as a domain controller is requested in the name of a DC
machine account, but not by that DC: the DC's NTLM authentication was coerced (PetitPotam,
DFSCoerce, printer bug) and relayed to the CA's web enrollment, and the certificate then
yields a TGT as the DC. AD CS sensor only.
Sources: AD CS events 4886 (request received) / 4887 (issued) on the CA: the requester is a
DC account and the template is DC-capable. Abnormal when
* the request attributes name another client machine (``ccm:``) than the DC, or carry a web
  enrollment user agent (``UserAgent:``: DC auto-enrollment uses DCOM, never a browser form);
* or the DC account's network logon on the CA just before came from an address that is not
  that DC (an IP the data maps to another computer or to no DC).
Known false positive: DC auto-enrollment from the DC itself (same machine, DCOM): stays quiet.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._adcs import CA_REQUESTS, kept
from dcwatch.detectors._common import NetworkLogons, display, host_ref, ip_for_host
from dcwatch.detectors.base import DetectionContext, Detector, ip_ref, refs, user_ref
from dcwatch.entities.resolver import short
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

K = ActivityKind


class DcCertificateRequestEsc8(Detector):
    slug: ClassVar[str] = "dc-certificate-request-esc8"
    external_id: ClassVar[int] = 2432
    title: ClassVar[str] = "Suspicious Domain Controller certificate request (ESC8)"
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1078",)
    handles: ClassVar[frozenset[str]] = frozenset({*CA_REQUESTS, K.LOGON})

    # Templates whose certificates authenticate a DC (client authentication / KDC / smart card
    # logon EKUs published for domain controllers).
    templates: ClassVar[frozenset[str]] = frozenset({
        "domaincontroller", "domaincontrollerauthentication", "kerberosauthentication"})
    logon_window: ClassVar[timedelta] = timedelta(minutes=2)

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.logons = NetworkLogons(self.logon_window)

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is K.LOGON:
            self.logons.observe(a)
            return []
        dc = a.target
        template = str(a.fields.get("template") or "")
        if dc is None or not dc.is_machine or template.lower() not in self.templates:
            return []
        if self.resolver.is_dc_account(dc) is False:
            return []  # a member server asking for a DC template is another story (ESC1...)
        dc_name = short((dc.name or "")[:-1])
        reasons, src_ip, src_host = self._abnormal(a, dc, dc_name)
        if not reasons:
            return []
        ca = display(a.host)
        who = f"{dc.domain}\\{dc.name}" if dc.domain else str(dc.name)
        origin = f" from {src_host or src_ip}" if (src_host or src_ip) else ""
        verb = "was issued" if a.kind is K.ADCS_ISSUED else "was requested"
        return [self.draft(
            key=f"{(dc_name or '?').lower()}|{ca.lower()}",
            activities=[a],
            description=f"A {template} certificate for domain controller {dc_name} {verb} "
                        f"on certification authority {ca}{origin}, not by {dc_name} itself "
                        f"({'; '.join(reasons)}).",
            entities=refs(user_ref(Account(dc.name, dc.domain, dc.sid), "domain controller"),
                          host_ref(src_host, "source computer", src_ip),
                          ip_ref(src_ip, "source IP") if src_host else None,
                          host_ref(a.host, "certification authority")),
            evidence=kept((("domain_controller_account", who), ("template", template),
                           ("certification_authority", ca),
                           ("request_id", a.fields.get("request_id")),
                           ("requester_ip", src_ip), ("client_machine",
                                                      a.fields.get("client_machine")),
                           ("reasons", reasons))),
        )]

    def _abnormal(self, a: Activity, dc: Account, dc_name: str | None
                  ) -> tuple[list[str], str | None, str | None]:
        reasons: list[str] = []
        src_ip = src_host = None
        attrs = str(a.fields.get("request_attributes") or "")
        ccm = a.fields.get("client_machine")
        if ccm and short(ccm) != dc_name:
            reasons.append(f"the request names client machine {ccm}")
            src_host = ccm
        if "useragent:" in attrs.lower():
            reasons.append("it came through web enrollment")
        s = self.logons.last_remote(a.host, a.ts, dc, users_only=False)
        if s is not None and s.src_ip:
            mapped = self.resolver.computer_for_ip(s.src_ip)
            known = ip_for_host(self.resolver, dc_name)
            if (mapped is not None and short(mapped.host) != dc_name) or \
                    (known is not None and known != s.src_ip):
                reasons.append(f"{dc.name} logged on to the CA from {s.src_ip}, "
                               "an address that is not that domain controller's")
                src_ip = s.src_ip
                if mapped is not None and short(mapped.host) != dc_name:
                    src_host = mapped.host
        return reasons, src_ip, src_host
