"""PKINIT client certificate (RFC 4556 section 3.2.1) from a PA-PK-AS-REQ, in clear.

``PA-PK-AS-REQ ::= SEQUENCE { signedAuthPack [0] IMPLICIT OCTET STRING, ... }`` where the octets
are a CMS ContentInfo (RFC 5652 section 3) holding SignedData (section 5.1) whose optional
``certificates [0] IMPLICIT CertificateSet`` carries the client's certificate chain. We decode the
X.509 certificates (RFC 5280 section 4.1) far enough for detection: issuer and subject DN
(RFC 4514 text, most specific RDN first), serial number (hex), validity, SAN UPN (otherName
1.3.6.1.4.1.311.20.2.3, MS-PKCA 3.1.5.2.1.1) and dNSName, and the SHA-1 thumbprint over the
certificate's DER (what Windows shows as "Thumbprint"). The end-entity certificate is the one the
SignerInfo names (issuerAndSerialNumber or subjectKeyIdentifier); failing that, the certificate
that issued no other one in the set. Every length is checked by :mod:`asn1`; anything that does
not decode raises ``Malformed`` or ``Truncated``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from dcwatch.errors import Malformed
from dcwatch.protocols import asn1
from dcwatch.protocols.asn1 import expect, tlv

# RFC 5652 section 5.1 / RFC 4556 section 3.2.1
OID_SIGNED_DATA = "1.2.840.113549.1.7.2"
# RFC 5280 4.2.1.6 subjectAltName, 4.2.1.2 subjectKeyIdentifier; MS-WCCE 2.2.2.7.10 UPN otherName
OID_SAN, OID_SKI = "2.5.29.17", "2.5.29.14"
OID_UPN = "1.3.6.1.4.1.311.20.2.3"
# RFC 4514 section 3 attribute type short names (others print as dotted OIDs)
_ATTR_NAMES = {
    "2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.9": "STREET",
    "2.5.4.10": "O", "2.5.4.11": "OU", "2.5.4.5": "SERIALNUMBER",
    "0.9.2342.19200300.100.1.25": "DC", "0.9.2342.19200300.100.1.1": "UID",
    "1.2.840.113549.1.9.1": "E",
}
UTC_TIME = 0x17
MAX_CERTS = 16  # a client chain is 1-3 certificates; more is not a PKINIT request


@dataclass(frozen=True, slots=True)
class Certificate:
    """The fields of an X.509 certificate that detection uses."""

    issuer: str
    subject: str
    serial: str  # hex of the INTEGER's content octets
    not_before: str  # ISO 8601 ...Z
    not_after: str
    san_upns: tuple[str, ...]
    san_dns: tuple[str, ...]
    thumbprint: str  # SHA-1 of the DER certificate, hex
    ski: str | None = None  # subjectKeyIdentifier, hex
    issuer_raw: bytes = b""

    def as_dict(self, chain: int = 1) -> dict[str, Any]:
        """Activity field form (JSON-friendly)."""
        return {"issuer": self.issuer, "subject": self.subject, "serial": self.serial,
                "not_before": self.not_before, "not_after": self.not_after,
                "san_upn": self.san_upns[0] if self.san_upns else None,
                "san_upns": list(self.san_upns), "san_dns": list(self.san_dns),
                "thumbprint": self.thumbprint, "chain_length": chain}


def parse_pa_pk_as_req(b: bytes, start: int, stop: int) -> tuple[Certificate | None, int]:
    """``(end-entity certificate or None, certificates carried)`` of a PA-PK-AS-REQ value."""
    s, e = expect(b, start, stop, asn1.SEQUENCE, "PA-PK-AS-REQ")
    t, ps, pe = tlv(b, s, e)
    if t != asn1.ctx(0, constructed=False):
        raise Malformed(f"pkinit: signedAuthPack [0] expected, found tag 0x{t:02x}")
    return signed_data_certificate(b, ps, pe)


def signed_data_certificate(b: bytes, start: int, stop: int
                            ) -> tuple[Certificate | None, int]:
    """End-entity certificate of a CMS ContentInfo(SignedData) (RFC 5652 5.1)."""
    s, e = expect(b, start, stop, asn1.SEQUENCE, "ContentInfo")
    os_, oe = expect(b, s, e, asn1.OID, "contentType")
    if (ct := asn1.oid_text(b, os_, oe)) != OID_SIGNED_DATA:
        raise Malformed(f"pkinit: contentType {OID_SIGNED_DATA} expected, found {ct}")
    cs, ce = expect(b, oe, e, asn1.ctx(0), "content")
    ss, se = expect(b, cs, ce, asn1.SEQUENCE, "SignedData")
    certs: list[Certificate] = []
    signer: tuple[bytes, str] | str | None = None
    for t, _, fs, fe in elements(b, ss, se):
        if t == asn1.ctx(0):  # certificates [0] IMPLICIT SET OF CertificateChoices
            for ct_, at, _, ce_ in elements(b, fs, fe):
                if ct_ != asn1.SEQUENCE:
                    continue  # RFC 5652 10.2.2: attribute/other certificate formats
                if len(certs) >= MAX_CERTS:
                    raise Malformed(f"pkinit: more than {MAX_CERTS} certificates")
                certs.append(certificate(b, at, ce_))
        elif t == asn1.SET and fe > fs and b[fs] == asn1.SEQUENCE and signer is None:
            signer = _signer_id(b, fs, fe)  # signerInfos: the first SignerInfo
    if not certs:
        return None, 0
    return _end_entity(certs, signer), len(certs)


def elements(b: bytes, start: int, stop: int) -> Iterator[tuple[int, int, int, int]]:
    """Like :func:`asn1.children` but also the element's own start: ``(tag, at, s, e)``."""
    off = start
    while off < stop:
        t, s, e = tlv(b, off, stop)
        yield t, off, s, e
        off = e


def _signer_id(b: bytes, start: int, stop: int) -> tuple[bytes, str] | str | None:
    """The first SignerInfo's sid: (issuer DER, serial hex) or subjectKeyIdentifier hex."""
    si_s, si_e = expect(b, start, stop, asn1.SEQUENCE, "SignerInfo")
    _, _, ve = tlv(b, si_s, si_e)  # version
    t, s, e = tlv(b, ve, si_e)
    if t == asn1.SEQUENCE:  # IssuerAndSerialNumber
        _, _, ne = tlv(b, s, e)
        issuer = b[s:ne]  # the issuer Name's DER, tag included
        ss, se = expect(b, ne, e, asn1.INTEGER, "serialNumber")
        return issuer, _serial(b, ss, se)
    if t == asn1.ctx(0, constructed=False):  # [0] SubjectKeyIdentifier
        return b[s:e].hex()
    return None


def _end_entity(certs: list[Certificate], signer: tuple[bytes, str] | str | None
                ) -> Certificate:
    for c in certs:
        if isinstance(signer, tuple) and (c.issuer_raw, c.serial) == signer:
            return c
        if isinstance(signer, str) and c.ski == signer:
            return c
    issuers = {c.issuer for c in certs if c.issuer != c.subject}
    leaves = [c for c in certs if c.subject not in issuers]
    return leaves[0] if leaves else certs[0]


def certificate(b: bytes, start: int, stop: int) -> Certificate:
    """Decode the X.509 Certificate whose DER starts at ``start`` (RFC 5280 4.1)."""
    cs, ce = expect(b, start, stop, asn1.SEQUENCE, "Certificate")
    thumb = hashlib.sha1(b[start:ce]).hexdigest()
    ts, te = expect(b, cs, ce, asn1.SEQUENCE, "TBSCertificate")
    items = list(elements(b, ts, te))
    if items and items[0][0] == asn1.ctx(0):  # version [0] EXPLICIT
        items = items[1:]
    if len(items) < 6:
        raise Malformed(f"pkinit: TBSCertificate has {len(items)} fields, 6 or more expected")
    (st, _, ss, se), _, (it, i_at, is_, ie), (vt, _, vs, ve), (subt, _, subs, sube), _ = \
        items[:6]
    if st != asn1.INTEGER or it != asn1.SEQUENCE or vt != asn1.SEQUENCE or \
            subt != asn1.SEQUENCE:
        raise Malformed("pkinit: TBSCertificate serial/issuer/validity/subject out of shape")
    times = list(asn1.children(b, vs, ve))
    if len(times) != 2:
        raise Malformed(f"pkinit: Validity has {len(times)} times, 2 expected")
    upns: list[str] = []
    dns: list[str] = []
    ski = None
    for t, _, xs, xe in items[6:]:
        if t == asn1.ctx(3):  # extensions [3] EXPLICIT
            ski = _extensions(b, xs, xe, upns, dns)
    issuer_raw = b[i_at:ie]
    return Certificate(dn(b, is_, ie), dn(b, subs, sube), _serial(b, ss, se),
                       _time(b, *times[0]), _time(b, *times[1]), tuple(upns), tuple(dns),
                       thumb, ski, issuer_raw)


def _serial(b: bytes, s: int, e: int) -> str:
    if e <= s:
        raise Malformed("pkinit: empty serialNumber")
    return b[s:e].hex()  # content octets as written (sign octet kept, as tshark shows them)


def _time(b: bytes, t: int, s: int, e: int) -> str:
    """UTCTime / GeneralizedTime (RFC 5280 4.1.2.5) as ISO 8601 ``...Z``."""
    v = asn1.text(b, s, e)
    if t == UTC_TIME and len(v) == 13 and v[:12].isdigit():
        yy = int(v[:2])
        v = f"{1900 + yy if yy >= 50 else 2000 + yy}{v[2:]}"
    elif t != asn1.GENERALIZED_TIME:
        raise Malformed(f"pkinit: Time tag 0x{t:02x} is neither UTCTime nor GeneralizedTime")
    if len(v) != 15 or not v[:14].isdigit() or v[14] != "Z":
        raise Malformed(f"pkinit: time {v!r} is not YYYYMMDDHHMMSSZ")
    return f"{v[0:4]}-{v[4:6]}-{v[6:8]}T{v[8:10]}:{v[10:12]}:{v[12:14]}Z"


def _string(b: bytes, t: int, s: int, e: int) -> str:
    raw = b[s:e]
    if t == 0x1E:  # BMPString
        return raw.decode("utf-16-be", "replace")
    if t == 0x1C:  # UniversalString
        return raw.decode("utf-32-be", "replace")
    if t in (0x0C, 0x13, 0x16, 0x14, 0x1A, 0x12):  # UTF8/Printable/IA5/T61/Visible/Numeric
        return raw.decode("utf-8", "replace")
    return "#" + raw.hex()  # RFC 4514 2.4 would hex the whole BER value: close enough


def _escape(v: str) -> str:
    """RFC 4514 section 2.4 escaping."""
    out = "".join("\\" + c if c in ',+"\\<>;=' else c for c in v)
    if out.startswith(("#", " ")):
        out = "\\" + out
    if out.endswith(" ") and len(out) > 1:
        out = out[:-1] + "\\ "
    return out


def dn(b: bytes, start: int, stop: int) -> str:
    """Name (RDNSequence) as RFC 4514 text: last RDN first, ``,`` between, ``+`` inside."""
    rdns = []
    for t, rs, re_ in asn1.children(b, start, stop):
        if t != asn1.SET:
            raise Malformed(f"pkinit: RDN SET expected, found tag 0x{t:02x}")
        parts = []
        for at, as_, ae in asn1.children(b, rs, re_):
            if at != asn1.SEQUENCE:
                raise Malformed("pkinit: AttributeTypeAndValue SEQUENCE expected")
            os_, oe = expect(b, as_, ae, asn1.OID, "attribute type")
            oid = asn1.oid_text(b, os_, oe)
            vt, vs, ve = tlv(b, oe, ae)
            parts.append(f"{_ATTR_NAMES.get(oid, oid)}={_escape(_string(b, vt, vs, ve))}")
        rdns.append("+".join(parts))
    return ",".join(reversed(rdns))


def _extensions(b: bytes, start: int, stop: int, upns: list[str], dns: list[str]) -> str | None:
    """Walk Extensions: fill SAN UPNs / DNS names, return the subjectKeyIdentifier hex."""
    s, e = expect(b, start, stop, asn1.SEQUENCE, "Extensions")
    ski = None
    for t, xs, xe in asn1.children(b, s, e):
        if t != asn1.SEQUENCE:
            raise Malformed(f"pkinit: Extension SEQUENCE expected, found tag 0x{t:02x}")
        os_, oe = expect(b, xs, xe, asn1.OID, "extnID")
        oid = asn1.oid_text(b, os_, oe)
        vt, vs, ve = tlv(b, oe, xe)
        if vt == asn1.BOOLEAN:  # critical
            vt, vs, ve = tlv(b, ve, xe)
        if vt != asn1.OCTET_STRING:
            raise Malformed(f"pkinit: extnValue OCTET STRING expected, found tag 0x{vt:02x}")
        if oid == OID_SAN:
            _general_names(b, vs, ve, upns, dns)
        elif oid == OID_SKI:
            ks, ke = expect(b, vs, ve, asn1.OCTET_STRING, "subjectKeyIdentifier")
            ski = b[ks:ke].hex()
    return ski


def _general_names(b: bytes, start: int, stop: int, upns: list[str], dns: list[str]) -> None:
    """GeneralNames (RFC 5280 4.2.1.6): otherName UPN and dNSName."""
    s, e = expect(b, start, stop, asn1.SEQUENCE, "GeneralNames")
    for t, gs, ge in asn1.children(b, s, e):
        if t == asn1.ctx(0):  # otherName [0] IMPLICIT SEQUENCE {type-id, [0] EXPLICIT value}
            os_, oe = expect(b, gs, ge, asn1.OID, "otherName type-id")
            if asn1.oid_text(b, os_, oe) != OID_UPN:
                continue
            vs, ve = expect(b, oe, ge, asn1.ctx(0), "otherName value")
            st, ss, se = tlv(b, vs, ve)
            upns.append(_string(b, st, ss, se))
        elif t == asn1.ctx(2, constructed=False):  # dNSName IA5String
            dns.append(asn1.text(b, gs, ge))
