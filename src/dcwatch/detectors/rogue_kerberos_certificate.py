"""Suspected rogue Kerberos certificate usage: MDI external ID 2047.

A certificate the organization's CA did not legitimately issue is used for a PKINIT logon
(a "golden certificate" forged with a stolen CA key, or a rogue CA an attacker added to NTAuth).
Wire only: the PA-PK-AS-REQ certificate (``pkinit_cert``). Two conservative rules, both on a
PKINIT logon the KDC accepted (AS-REP), since a certificate the KDC refuses grants nothing:

* **unknown issuer** - the issuer is not one of the enterprise CAs, i.e. those configured in
  ``enterprise_cas`` or learned from accepted PKINIT logons of at least ``min_learned_accounts``
  different accounts before; a KDC only accepts an issuer in NTAuth, so a new accepted issuer
  after the CA is known means NTAuth changed (persistence). Quiet until a CA is known.
* **impossible validity** - the certificate starts after the logon (beyond ``clock_skew``), as
  forging tools that do not mirror the CA's clock produce, or it is valid for more than
  ``max_validity`` (AD CS templates issue for a year or two; forgers pick long lifetimes).

MDI's exact rule is not public (spec: unverified). With AD CS events the spec's "never issued"
check would need the issued serials (4887 carries none in dcwatch's mapping): not implemented.
Known false positive: a certificate regularly used by that account from that computer (one open
alert per certificate, account and source is updated, not duplicated; exclude the account).
State: learned issuers (bounded by ``max_issuers``), accounts per issuer.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import acct_text, source, target_dc, where
from dcwatch.detectors._pkinit import account_key, cert_evidence, cert_time, pkinit_cert
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity


class RogueKerberosCertificate(Detector):
    slug: ClassVar[str] = "rogue-kerberos-certificate"
    external_id: ClassVar[int] = 2047
    title: ClassVar[str] = "Suspected rogue Kerberos certificate usage"
    phase: ClassVar[Phase] = Phase.LATERAL_MOVEMENT
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("TA0008", "TA0003", "TA0004")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.KERBEROS_AS})

    enterprise_cas: ClassVar[tuple[str, ...]] = ()  # issuer DNs known good (NTAuth)
    min_learned_accounts: ClassVar[int] = 2  # accepted logons of this many accounts teach a CA
    clock_skew: ClassVar[timedelta] = timedelta(minutes=10)  # Kerberos tolerates 5 minutes
    max_validity: ClassVar[timedelta] = timedelta(days=3653)  # ten years
    max_issuers: ClassVar[int] = 1_000

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._issuers: BoundedDict[set[str]] = BoundedDict(self.max_issuers)

    def _known(self) -> set[str]:
        learned = {i for i, accts in self._issuers.items()
                   if len(accts) >= self.min_learned_accounts}
        return learned | {i.lower() for i in self.enterprise_cas}

    def observe(self, a: Activity) -> list[AlertDraft]:
        c = pkinit_cert(a)
        if c is None or a.outcome != "success" or not c.get("issuer"):
            return []
        issuer = str(c["issuer"]).lower()
        known = self._known()
        reasons = []
        if known and issuer not in known:
            reasons.append(f"its issuer {c['issuer']} is not an enterprise CA seen before")
        start, end = cert_time(c.get("not_before")), cert_time(c.get("not_after"))
        if start and start > a.ts + self.clock_skew:
            reasons.append(f"it is only valid from {c['not_before']}, after the logon")
        if start and end and end - start > self.max_validity:
            reasons.append(f"it is valid for {(end - start).days} days")
        if not reasons:  # learn only from certificates that raise nothing
            accts = self._issuers.get(issuer) or set()
            accts.add(account_key(a.actor) or "?")
            self._issuers[issuer] = accts  # __setitem__: bounded, most recent last
            return []
        ip, host = source(a, self.resolver)
        dc = target_dc(a, self.resolver)
        who = acct_text(a.actor)
        return [self.draft(
            key=f"{c.get('thumbprint')}|{account_key(a.actor)}|{ip or host}",
            activities=[a],
            description=(f"{who} logged on from {where(ip, host)} to {dc} with a certificate "
                         f"(serial {c.get('serial')}, subject {c.get('subject')}) that the "
                         f"organization's CA may not have issued: {'; '.join(reasons)}."),
            entities=refs(user_ref(a.actor, "account"),
                          host_ref(host, "source computer", ip),
                          host_ref(dc, "domain controller")),
            evidence={"reasons": reasons, "certificate": cert_evidence(c),
                      "known_enterprise_cas": sorted(known), "source_ip": ip,
                      "source_computer": host, "frame": a.origin.record},
            require_dc=a.dst_ip or a.host,
        )]
