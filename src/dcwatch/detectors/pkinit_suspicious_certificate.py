"""Suspicious certificate usage over Kerberos protocol (PKINIT): MDI external ID 2425.

A PKINIT logon uses a certificate with the marks of AD CS abuse (ESC1/ESC6: the enrollee wrote
someone else's name into the request). Sources: the PA-PK-AS-REQ certificate on the wire
(``pkinit_cert`` of ``kerberos.as_request``) and the CA's events 4886/4887
(``adcs.certificate_requested``/``adcs.certificate_issued``). Rules (conservative; MDI's are
not public, spec: unverified):

* **SAN for another account** - the certificate's SAN UPN names an account other than the one
  the AS-REQ asks a TGT for (cname). AD CS maps a logon certificate to its own account; another
  name needs an explicit mapping (altSecurityIdentities), rare and itself worth review.
* **issued for someone else** - within ``window`` of the CA issuing (4887) or receiving (4886) a
  request whose attributes name a SAN UPN other than the requester, a PKINIT logon for that UPN.

Severity is raised by nothing: the alert is high. A failed logon still alerts (an attempt).
Known false positive: legitimate new certificate-based logons with explicit mappings (exclude
the account). State: SAN requests by named account (bounded), evicted after ``window``.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import ClassVar

from dcwatch.detectors._adcs import CA_REQUESTS
from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import acct_text, source, target_dc, where
from dcwatch.detectors._pkinit import account_key, cert_evidence, name_key, pkinit_cert
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

# MS-WCCE 3.2.1.4.2.1.4: request attributes "SAN:upn=x&dns=y" (EDITF_ATTRIBUTESUBJECTALTNAME2)
_SAN_UPN = re.compile(r"(?:^|[\s&,;:])upn=([^\s&,;]+)", re.I)


class PkinitSuspiciousCertificate(Detector):
    slug: ClassVar[str] = "pkinit-suspicious-certificate"
    external_id: ClassVar[int] = 2425
    title: ClassVar[str] = "Suspicious certificate usage over Kerberos protocol (PKINIT)"
    phase: ClassVar[Phase] = Phase.LATERAL_MOVEMENT
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1550",)
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.KERBEROS_AS, *CA_REQUESTS})

    window: ClassVar[timedelta] = timedelta(hours=24)
    max_requests: ClassVar[int] = 10_000

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._san_requests: BoundedDict[tuple[datetime, str, Activity]] = BoundedDict(
            self.max_requests)

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind in CA_REQUESTS:
            self._ca_request(a)
            return []
        c = pkinit_cert(a)
        if c is None:
            return []
        requested = account_key(a.actor)
        upn = name_key(c.get("san_upn"))
        reasons, related = [], [a]
        if upn and requested and upn != requested.rstrip("$") and upn != requested:
            reasons.append(f"its SAN UPN {c.get('san_upn')} names another account than the "
                           f"one requested ({a.actor.name if a.actor else '?'})")
        for name in {upn, requested} - {None}:
            hit = self._san_requests.get(name)  # type: ignore[arg-type]
            if hit and a.ts - hit[0] <= self.window:
                reasons.append(f"the CA was asked by {hit[1]} for a certificate naming {name}")
                related.insert(0, hit[2])
                break
        if not reasons:
            return []
        ip, host = source(a, self.resolver)
        dc = target_dc(a, self.resolver)
        return [self.draft(
            key=f"{requested}|{c.get('thumbprint')}",
            activities=related,
            description=(f"{acct_text(a.actor)} authenticated from {where(ip, host)} to {dc} "
                         f"with a suspicious certificate (subject {c.get('subject')}, issuer "
                         f"{c.get('issuer')}): {'; '.join(reasons)}."),
            entities=refs(user_ref(a.actor, "account"), host_ref(host, "source computer", ip),
                          host_ref(dc, "domain controller")),
            evidence={"reasons": reasons, "certificate": cert_evidence(c), "outcome": a.outcome,
                      "source_ip": ip, "source_computer": host, "frame": a.origin.record},
            require_dc=a.dst_ip or a.host,
        )]

    def _ca_request(self, a: Activity) -> None:
        m = _SAN_UPN.search(a.fields.get("request_attributes") or "")
        requester = a.fields.get("requester") or ""
        named = name_key(m.group(1)) if m else None
        if named and named != name_key(requester) and named.rstrip("$") != name_key(requester):
            self._san_requests[named] = (a.ts, requester or "an unknown requester", a)
