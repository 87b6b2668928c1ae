"""Abnormal AD FS authentication using a suspicious certificate: MDI external ID 2424.

MagicWeb (NOBELIUM): a backdoored AD FS server accepts client certificates that carry a
custom enhanced-key-usage OID and lets their holder sign in as anyone. The AD FS audit trail
shows the sign-in as an ordinary certificate authentication (event 1202 "credential validated",
``PrimaryAuth`` a TLS-client/X.509 method) whose certificate claims (event 501,
``.../certificatecontext/...`` claim types, same instance ID) describe the certificate.
Implementation is **unverified** (spec: logic inferred). A certificate authentication alerts when
its certificate
* has no EKU that permits client authentication (clientAuth, smartcardLogon, PKINIT client,
  anyExtendedKeyUsage), or
* carries an EKU OID outside the well-known set and ``trusted_ekus`` (MagicWeb's custom OID), or
* comes from an issuer never seen on this farm after ``min_baseline`` certificate sign-ins from
  other issuers (with no baseline a new issuer is not judged: no learning period in MDI).
Failed authentications (1203) are not judged; a 1202 whose 501 never arrives cannot be judged.
Known false positive: a newly rolled-out smart card or certificate authentication (new issuer
or application policy): add its OIDs to ``trusted_ekus`` or exclude the AD FS server.
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._adfs import as_list
from dcwatch.detectors._common import actor_text, display, host_ref, named
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    ip_ref,
    refs,
    user_ref,
)
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

K = ActivityKind
# PrimaryAuth values of certificate authentication (AD FS authentication method references).
CERT_METHODS = ("tlsclient", "x509", "urn:ietf:rfc:2246", "smartcard", "certificate")
# RFC 5280 4.2.1.12 / Microsoft OIDs that allow a certificate to authenticate a client.
CLIENT_AUTH_EKUS = frozenset({
    "1.3.6.1.5.5.7.3.2",  # id-kp-clientAuth
    "1.3.6.1.4.1.311.20.2.2",  # szOID_KP_SMARTCARD_LOGON
    "1.3.6.1.5.2.3.4",  # id-pkinit-KPClientAuth (RFC 4556)
    "2.5.29.37.0",  # anyExtendedKeyUsage
})
WELL_KNOWN_EKUS = CLIENT_AUTH_EKUS | frozenset({
    "1.3.6.1.5.5.7.3.1",  # serverAuth
    "1.3.6.1.5.5.7.3.4",  # emailProtection
    "1.3.6.1.4.1.311.10.3.4",  # Encrypting File System
    "1.3.6.1.4.1.311.10.3.12",  # Document Signing
})


class AdfsSuspiciousCertificateAuth(Detector):
    slug: ClassVar[str] = "adfs-suspicious-certificate-auth"
    external_id: ClassVar[int] = 2424
    title: ClassVar[str] = ("Abnormal Active Directory Federation Services (AD FS) "
                            "authentication using a suspicious certificate")
    phase: ClassVar[Phase] = Phase.CREDENTIAL_ACCESS
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1606",)
    handles: ClassVar[frozenset[str]] = frozenset({K.ADFS_CREDENTIAL, K.ADFS_CLAIMS})

    # Custom application-policy OIDs a farm legitimately accepts: configuration.
    trusted_ekus: ClassVar[frozenset[str]] = frozenset()
    # Certificate sign-ins from other issuers seen before a new issuer counts as anomalous.
    min_baseline: ClassVar[int] = 10

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._auths: BoundedDict[Activity] = BoundedDict(50_000)  # instance -> 1202
        self._certs: BoundedDict[Activity] = BoundedDict(50_000)  # instance -> 501
        self._issuers: dict[str, dict[str, int]] = {}  # farm server -> issuer -> sign-ins

    def observe(self, a: Activity) -> list[AlertDraft]:
        inst = a.fields.get("instance_id")
        if not inst:
            return []
        if a.kind is K.ADFS_CREDENTIAL and a.outcome == "success" and self._cert_auth(a):
            cert = self._certs.pop(inst, None)
            if cert is None:
                self._auths[inst] = a
                return []
            return self._judge(a, cert)
        if a.kind is K.ADFS_CLAIMS and a.fields.get("certificate"):
            auth = self._auths.pop(inst, None)
            if auth is None:
                self._certs[inst] = a
                return []
            return self._judge(auth, a)
        return []

    @staticmethod
    def _cert_auth(a: Activity) -> bool:
        method = str(a.fields.get("primary_auth") or "").lower()
        return any(m in method for m in CERT_METHODS)

    def _judge(self, auth: Activity, claims: Activity) -> list[AlertDraft]:
        cert = claims.fields.get("certificate") or {}
        ekus = as_list(cert.get("eku"))
        issuer = ", ".join(as_list(cert.get("issuer"))) or None
        server = (auth.host or "").lower()
        seen = self._issuers.setdefault(server, {})
        anomalies: list[str] = []
        if ekus and not CLIENT_AUTH_EKUS.intersection(ekus):
            anomalies.append("no client-authentication EKU")
        odd = sorted(e for e in ekus if e not in WELL_KNOWN_EKUS and e not in self.trusted_ekus)
        if odd:
            anomalies.append(f"unusual EKU {', '.join(odd)}")
        if issuer and issuer not in seen and sum(seen.values()) >= self.min_baseline:
            anomalies.append("issuer never seen on this farm")
        if issuer:
            seen[issuer] = seen.get(issuer, 0) + 1
        if not anomalies:
            return []
        user = named(self.resolver, auth.actor)
        who = actor_text(user)
        src = f" from {auth.src_ip}" if auth.src_ip else ""
        f = auth.fields
        return [self.draft(
            key=f"{who.lower()}|{display(auth.host).lower()}",
            activities=[auth, claims],
            description=f"{who} authenticated to AD FS server {display(auth.host)}{src} with a "
                        f"certificate that has suspicious properties ({'; '.join(anomalies)}); "
                        f"issuer {issuer or 'unknown'}.",
            entities=refs(user_ref(user, "user"), host_ref(auth.host, "AD FS server"),
                          ip_ref(auth.src_ip, "source IP")),
            evidence={k: v for k, v in (
                ("anomalies", anomalies), ("certificate_issuer", issuer),
                ("certificate_subject", cert.get("subject")),
                ("certificate_serial", cert.get("serialnumber")), ("eku", ekus),
                ("primary_auth", f.get("primary_auth")), ("relying_party", f.get("relying_party")),
                ("source_ip", auth.src_ip), ("adfs_server", display(auth.host)),
                ("instance_id", f.get("instance_id"))) if v},
        )]
