"""Kerberos v5 KDC messages (RFC 4120 section 5.4) and AP-REQ (section 5.5.1), MS-KILE/MS-SFU.

Parses AS/TGS requests, replies, AP-REQ and KRB-ERROR far enough for detection: principals,
realms, etypes, PA-DATA (encrypted timestamp etype, PAC request, S4U2self user, PKINIT), KDC
options, additional tickets, error code and e-text, and a fingerprint of every ticket: the first
32 hex digits of SHA-256 over the ticket enc-part cipher, so the ticket issued in a TGS-REP can
be recognised when it is presented again (TGS-REQ PA-TGS-REQ, SMB/LDAP/RPC AP-REQ).
Mapping to activities lives in :mod:`dcwatch.protocols.kerberos_activity`.
Validated field by field against tshark: tests/protocols/test_kerberos.py.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from dcwatch.errors import InputError, Malformed
from dcwatch.protocols import asn1, pkinit
from dcwatch.protocols.asn1 import ctx, expect, fields, read_int, read_text, tlv

# RFC 4120 section 7.5.7: message types.
AS_REQ, AS_REP, TGS_REQ, TGS_REP, AP_REQ, AP_REP, KRB_ERROR = 10, 11, 12, 13, 14, 15, 30
KRB_PRIV = 21
# RFC 4120 section 7.5.2 + MS-KILE 2.2.1 / MS-SFU 2.2.1 / RFC 4556: PA-DATA types.
PA_TGS_REQ, PA_ENC_TIMESTAMP, PA_PK_AS_REQ_OLD, PA_PK_AS_REQ = 1, 2, 14, 16
PA_PAC_REQUEST, PA_FOR_USER, PA_PAC_OPTIONS = 128, 129, 167
# RFC 4120 section 5.4.1 KDCOptions; bit 14 is cname-in-addl-tkt (MS-SFU 2.2.5, S4U2proxy).
KDC_OPTION_NAMES: dict[int, str] = {
    0: "reserved", 1: "forwardable", 2: "forwarded", 3: "proxiable", 4: "proxy",
    5: "allow-postdate", 6: "postdated", 8: "renewable", 11: "opt-hardware-auth",
    14: "constrained-delegation", 15: "canonicalize", 16: "request-anonymous",
    26: "disable-transited-check", 27: "renewable-ok", 28: "enc-tkt-in-skey", 30: "renew",
    31: "validate",
}
# RFC 4120 section 7.5.3 (address types): IPv4 2, IPv6 24, NetBIOS 20.
ADDR_IPV4, ADDR_NETBIOS, ADDR_IPV6 = 2, 20, 24
FINGERPRINT_HEX = 32  # hex digits kept of the SHA-256 of a ticket's cipher

_KDC_MSG_TAGS = {asn1.app(n): n for n in (AS_REQ, AS_REP, TGS_REQ, TGS_REP, AP_REQ, KRB_ERROR)}


@dataclass(frozen=True, slots=True)
class Ticket:
    """A ticket as seen on the wire: only the unencrypted part and a fingerprint of the rest."""

    realm: str
    sname: str
    etype: int
    kvno: int | None
    fingerprint: str


@dataclass(frozen=True, slots=True)
class ApReq:
    """AP-REQ (RFC 4120 5.5.1): the ticket presented and the authenticator's etype."""

    sname: str
    realm: str
    ticket_etype: int
    kvno: int | None
    ticket_fingerprint: str
    authenticator_etype: int
    ap_options: int


@dataclass(frozen=True, slots=True)
class KdcReq:
    """AS-REQ (10) or TGS-REQ (12) (RFC 4120 5.4.1)."""

    msg_type: int
    cname: str | None  # absent in a TGS-REQ: the client is inside the presented ticket
    realm: str
    sname: str | None
    etypes: tuple[int, ...]
    pa_types: tuple[int, ...]
    kdc_options: int
    preauth_etype: int | None = None
    include_pac: bool | None = None
    s4u_user: str | None = None  # PA-FOR-USER (MS-SFU 2.2.1) user@realm
    tgs_ap_req: ApReq | None = None  # PA-TGS-REQ: the TGT presented
    additional_tickets: tuple[Ticket, ...] = ()
    till: str | None = None
    rtime: str | None = None
    addresses: tuple[str, ...] = ()
    authz_data_etype: int | None = None  # enc-authorization-data [10] (RFC 4120 5.4.1)
    pkinit_cert: pkinit.Certificate | None = None  # PA-PK-AS-REQ end-entity cert (RFC 4556)
    pkinit_chain: int = 0  # certificates carried in the signedAuthPack
    pkinit_error: str | None = None  # why the PA-PK-AS-REQ could not be decoded


@dataclass(frozen=True, slots=True)
class KdcRep:
    """AS-REP (11) or TGS-REP (13) (RFC 4120 5.4.2): crealm/cname and the ticket are in clear."""

    msg_type: int
    crealm: str
    cname: str
    ticket: Ticket
    enc_etype: int
    pa_types: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class KrbError:
    """KRB-ERROR (RFC 4120 5.9.1)."""

    error_code: int
    realm: str
    sname: str | None
    crealm: str | None
    cname: str | None
    e_text: str | None


Message = KdcReq | KdcRep | KrbError | ApReq


def fingerprint(cipher: bytes) -> str:
    """Stable ticket identity: SHA-256 of the enc-part cipher, first 32 hex digits."""
    return hashlib.sha256(cipher).hexdigest()[:FINGERPRINT_HEX]


def kdc_option_names(value: int, nbits: int = 32) -> list[str]:
    """Names of the KDCOptions bits set in ``value`` (bit 0 is the most significant)."""
    return [name for bit, name in KDC_OPTION_NAMES.items()
            if bit < nbits and value >> (nbits - 1 - bit) & 1]


def principal(b: bytes, bounds: tuple[int, int]) -> str:
    """PrincipalName (RFC 4120 5.2.2) as ``comp1/comp2`` (content of its explicit tag)."""
    s, e = expect(b, bounds[0], bounds[1], asn1.SEQUENCE, "PrincipalName")
    f = fields(b, s, e)
    names = f.get(ctx(1))
    if names is None:
        raise Malformed("kerberos: PrincipalName without name-string")
    ns, ne = expect(b, names[0], names[1], asn1.SEQUENCE, "name-string")
    return "/".join(asn1.text_list(b, ns, ne))


def kerberos_time(b: bytes, bounds: tuple[int, int]) -> str:
    """KerberosTime (GeneralizedTime ``YYYYMMDDHHMMSSZ``) as ISO 8601 ``...Z``."""
    _, s, e = tlv(b, bounds[0], bounds[1])
    t = asn1.text(b, s, e)
    if len(t) != 15 or not t[:14].isdigit():
        return t
    return f"{t[0:4]}-{t[4:6]}-{t[6:8]}T{t[8:10]}:{t[10:12]}:{t[12:14]}Z"


def encrypted_data(b: bytes, bounds: tuple[int, int]) -> tuple[int, int | None, bytes]:
    """EncryptedData (RFC 4120 5.2.9): ``(etype, kvno, cipher)``."""
    s, e = expect(b, bounds[0], bounds[1], asn1.SEQUENCE, "EncryptedData")
    f = fields(b, s, e)
    if ctx(0) not in f or ctx(2) not in f:
        raise Malformed("kerberos: EncryptedData without etype or cipher")
    kvno = read_int(b, f[ctx(1)], "kvno") if ctx(1) in f else None
    cs, ce = expect(b, f[ctx(2)][0], f[ctx(2)][1], asn1.OCTET_STRING, "cipher")
    return read_int(b, f[ctx(0)], "etype"), kvno, b[cs:ce]


def ticket_at(b: bytes, off: int, end: int) -> Ticket:
    """Ticket (RFC 4120 5.3): ``[APPLICATION 1] SEQUENCE {tkt-vno, realm, sname, enc-part}``."""
    s, e = expect(b, off, end, asn1.app(1), "Ticket")
    s, e = expect(b, s, e, asn1.SEQUENCE, "Ticket")
    f = fields(b, s, e)
    if ctx(1) not in f or ctx(2) not in f or ctx(3) not in f:
        raise Malformed("kerberos: Ticket without realm, sname or enc-part")
    etype, kvno, cipher = encrypted_data(b, f[ctx(3)])
    return Ticket(read_text(b, f[ctx(1)]), principal(b, f[ctx(2)]), etype, kvno,
                  fingerprint(cipher))


def parse_ap_req(data: bytes) -> ApReq:
    """Parse a bare AP-REQ (``[APPLICATION 14]``), e.g. the inner token of GSS-API krb5."""
    data = bytes(data)
    return _ap_req(data, 0, len(data))


def _ap_req(b: bytes, off: int, end: int) -> ApReq:
    s, e = expect(b, off, end, asn1.app(AP_REQ), "AP-REQ")
    s, e = expect(b, s, e, asn1.SEQUENCE, "AP-REQ")
    f = fields(b, s, e)
    if ctx(3) not in f or ctx(4) not in f:
        raise Malformed("kerberos: AP-REQ without ticket or authenticator")
    t = ticket_at(b, f[ctx(3)][0], f[ctx(3)][1])
    auth_etype, _, _ = encrypted_data(b, f[ctx(4)])
    options = 0
    if ctx(2) in f:
        _, os_, oe = tlv(b, f[ctx(2)][0], f[ctx(2)][1])
        options = asn1.bit_string_int(b, os_, oe)[0]
    return ApReq(t.sname, t.realm, t.etype, t.kvno, t.fingerprint, auth_etype, options)


def parse(data: bytes) -> Message:
    """Parse one Kerberos message. Raises Truncated if more bytes may come, Malformed if not."""
    b = bytes(data)
    if not b:
        raise Malformed("kerberos: empty message")
    t, _, _ = tlv(b, 0, len(b))
    msg_type = _KDC_MSG_TAGS.get(t)
    if msg_type is None:
        raise Malformed(f"kerberos: message tag 0x{t:02x} is not a KDC message")
    if msg_type in (AS_REQ, TGS_REQ):
        return _kdc_req(b, msg_type)
    if msg_type in (AS_REP, TGS_REP):
        return _kdc_rep(b, msg_type)
    if msg_type == AP_REQ:
        return _ap_req(b, 0, len(b))
    return _krb_error(b)


def _pa_data(b: bytes, bounds: tuple[int, int]) -> list[tuple[int, tuple[int, int]]]:
    """METHOD-DATA: ``[(padata-type, value-bounds)]`` (RFC 4120 5.2.7)."""
    s, e = expect(b, bounds[0], bounds[1], asn1.SEQUENCE, "padata")
    out = []
    for t, ps, pe in asn1.children(b, s, e):
        if t != asn1.SEQUENCE:
            raise Malformed(f"kerberos: PA-DATA SEQUENCE expected, found tag 0x{t:02x}")
        f = fields(b, ps, pe)
        if ctx(1) not in f or ctx(2) not in f:
            raise Malformed("kerberos: PA-DATA without type or value")
        vs, ve = expect(b, f[ctx(2)][0], f[ctx(2)][1], asn1.OCTET_STRING, "padata-value")
        out.append((read_int(b, f[ctx(1)], "padata-type"), (vs, ve)))
    return out


def _kdc_req(b: bytes, msg_type: int) -> KdcReq:
    s, e = expect(b, 0, len(b), asn1.app(msg_type))
    s, e = expect(b, s, e, asn1.SEQUENCE, "KDC-REQ")
    f = fields(b, s, e)
    if ctx(4) not in f:
        raise Malformed("kerberos: KDC-REQ without req-body")
    pa_types: list[int] = []
    preauth_etype = include_pac = s4u_user = ap = None
    cert: pkinit.Certificate | None = None
    chain, cert_error = 0, None
    if ctx(3) in f:
        for ptype, pv in _pa_data(b, f[ctx(3)]):
            pa_types.append(ptype)
            if ptype == PA_ENC_TIMESTAMP:
                preauth_etype = encrypted_data(b, pv)[0]
            elif ptype == PA_PAC_REQUEST:  # MS-KILE 2.2.3 KERB-PA-PAC-REQUEST
                ss, se = expect(b, pv[0], pv[1], asn1.SEQUENCE, "PA-PAC-REQUEST")
                pf = fields(b, ss, se)
                if ctx(0) in pf:
                    _, bs, be = tlv(b, pf[ctx(0)][0], pf[ctx(0)][1])
                    include_pac = asn1.boolean(b, bs, be)
            elif ptype == PA_FOR_USER:  # MS-SFU 2.2.1 PA_FOR_USER_ENC
                ss, se = expect(b, pv[0], pv[1], asn1.SEQUENCE, "PA-FOR-USER")
                pf = fields(b, ss, se)
                if ctx(0) in pf:
                    user = principal(b, pf[ctx(0)])
                    realm = read_text(b, pf[ctx(1)]) if ctx(1) in pf else ""
                    s4u_user = f"{user}@{realm}" if realm else user
            elif ptype == PA_TGS_REQ:
                ap = _ap_req(b, pv[0], pv[1])
            elif ptype == PA_PK_AS_REQ:
                # The certificate is enrichment: an undecodable CMS blob must not cost us the
                # AS-REQ itself (its bounds were already checked by _pa_data).
                try:
                    cert, chain = pkinit.parse_pa_pk_as_req(b, pv[0], pv[1])
                except InputError as exc:
                    cert_error = str(exc)
    bs, be = expect(b, f[ctx(4)][0], f[ctx(4)][1], asn1.SEQUENCE, "KDC-REQ-BODY")
    body = fields(b, bs, be)
    if ctx(2) not in body:
        raise Malformed("kerberos: KDC-REQ-BODY without realm")
    options = 0
    if ctx(0) in body:
        _, os_, oe = tlv(b, body[ctx(0)][0], body[ctx(0)][1])
        options = asn1.bit_string_int(b, os_, oe)[0]
    etypes: list[int] = []
    if ctx(8) in body:
        es, ee = expect(b, body[ctx(8)][0], body[ctx(8)][1], asn1.SEQUENCE, "etype")
        etypes = asn1.int_list(b, es, ee)
    tickets: list[Ticket] = []
    if ctx(11) in body:
        ts, te = expect(b, body[ctx(11)][0], body[ctx(11)][1], asn1.SEQUENCE, "tickets")
        off = ts
        while off < te:
            _, _, nxt = tlv(b, off, te)
            tickets.append(ticket_at(b, off, nxt))
            off = nxt
    return KdcReq(
        msg_type=msg_type,
        cname=principal(b, body[ctx(1)]) if ctx(1) in body else None,
        realm=read_text(b, body[ctx(2)]),
        sname=principal(b, body[ctx(3)]) if ctx(3) in body else None,
        etypes=tuple(etypes),
        pa_types=tuple(pa_types),
        kdc_options=options,
        preauth_etype=preauth_etype,
        include_pac=include_pac,
        s4u_user=s4u_user,
        tgs_ap_req=ap,
        additional_tickets=tuple(tickets),
        till=kerberos_time(b, body[ctx(5)]) if ctx(5) in body else None,
        rtime=kerberos_time(b, body[ctx(6)]) if ctx(6) in body else None,
        addresses=_addresses(b, body[ctx(9)]) if ctx(9) in body else (),
        authz_data_etype=encrypted_data(b, body[ctx(10)])[0] if ctx(10) in body else None,
        pkinit_cert=cert,
        pkinit_chain=chain,
        pkinit_error=cert_error,
    )


def _addresses(b: bytes, bounds: tuple[int, int]) -> tuple[str, ...]:
    """HostAddresses (RFC 4120 5.2.5): NetBIOS names and IP addresses as text."""
    s, e = expect(b, bounds[0], bounds[1], asn1.SEQUENCE, "HostAddresses")
    out = []
    for _, hs, he in asn1.children(b, s, e):
        f = fields(b, hs, he)
        if ctx(0) not in f or ctx(1) not in f:
            continue
        kind = read_int(b, f[ctx(0)], "addr-type")
        _, vs, ve = tlv(b, f[ctx(1)][0], f[ctx(1)][1])
        raw = b[vs:ve]
        if kind == ADDR_NETBIOS:
            out.append(raw.decode("latin-1").rstrip(" \x00"))
        elif kind == ADDR_IPV4 and len(raw) == 4:
            out.append(".".join(str(x) for x in raw))
        else:
            out.append(raw.hex())
    return tuple(out)


def _kdc_rep(b: bytes, msg_type: int) -> KdcRep:
    s, e = expect(b, 0, len(b), asn1.app(msg_type))
    s, e = expect(b, s, e, asn1.SEQUENCE, "KDC-REP")
    f = fields(b, s, e)
    for n, what in ((3, "crealm"), (4, "cname"), (5, "ticket"), (6, "enc-part")):
        if ctx(n) not in f:
            raise Malformed(f"kerberos: KDC-REP without {what}")
    pa_types = tuple(t for t, _ in _pa_data(b, f[ctx(2)])) if ctx(2) in f else ()
    return KdcRep(
        msg_type=msg_type,
        crealm=read_text(b, f[ctx(3)]),
        cname=principal(b, f[ctx(4)]),
        ticket=ticket_at(b, f[ctx(5)][0], f[ctx(5)][1]),
        enc_etype=encrypted_data(b, f[ctx(6)])[0],
        pa_types=pa_types,
    )


def _krb_error(b: bytes) -> KrbError:
    s, e = expect(b, 0, len(b), asn1.app(KRB_ERROR))
    s, e = expect(b, s, e, asn1.SEQUENCE, "KRB-ERROR")
    f = fields(b, s, e)
    if ctx(6) not in f:
        raise Malformed("kerberos: KRB-ERROR without error-code")
    return KrbError(
        error_code=read_int(b, f[ctx(6)], "error-code"),
        realm=read_text(b, f[ctx(9)]) if ctx(9) in f else "",
        sname=principal(b, f[ctx(10)]) if ctx(10) in f else None,
        crealm=read_text(b, f[ctx(7)]) if ctx(7) in f else None,
        cname=principal(b, f[ctx(8)]) if ctx(8) in f else None,
        e_text=read_text(b, f[ctx(11)]) if ctx(11) in f else None,
    )
