"""GSS-API and SPNEGO tokens (RFC 2743 3.1, RFC 4178 4.2, MS-SPNG) in SMB, DCE/RPC and LDAP.

``unwrap`` accepts a security blob in any of the shapes seen on the wire: an SPNEGO NegTokenInit
(inside the 0x60 InitialContextToken) or a bare NegTokenResp (0xa1), a raw NTLMSSP message, a
Kerberos AP-REQ wrapped with the KRB5 OID (RFC 4121 4.1) or bare (0x6e). It returns what is
inside: the NTLM message (``ntlm.parse``), the AP-REQ (``kerberos.parse_ap_req`` when that module
is importable, else a minimal local reader) and the NegTokenResp state (accept-completed/reject).
BER is read with a few private helpers so this module does not depend on ``protocols.asn1``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from dcwatch.errors import InputError, Malformed
from dcwatch.protocols import ntlm

# RFC 4178 / MS-SPNG 2.2: mechanism OIDs (DER content bytes -> name)
OID_SPNEGO = bytes.fromhex("2b0601050502")  # 1.3.6.1.5.5.2
OID_KRB5 = bytes.fromhex("2a864886f712010202")  # 1.2.840.113554.1.2.2 (RFC 4121)
OID_MS_KRB5 = bytes.fromhex("2a864882f712010202")  # 1.2.840.48018.1.2.2 (MS-KILE 3.1.5.10)
OID_KRB5_U2U = bytes.fromhex("2a864886f71201020203")  # 1.2.840.113554.1.2.2.3
OID_NTLMSSP = bytes.fromhex("2b06010401823702020a")  # 1.3.6.1.4.1.311.2.2.10
OID_NEGOEX = bytes.fromhex("2b06010401823702021e")  # 1.3.6.1.4.1.311.2.2.30
MECH_NAMES = {
    OID_SPNEGO: "spnego",
    OID_KRB5: "kerberos",
    OID_MS_KRB5: "kerberos",
    OID_KRB5_U2U: "kerberos-u2u",
    OID_NTLMSSP: "ntlm",
    OID_NEGOEX: "negoex",
}
# RFC 4178 4.2.2 negState
NEG_STATES = {0: "accept-completed", 1: "accept-incomplete", 2: "reject", 3: "request-mic"}
# RFC 4121 4.1 TOK_ID for the Kerberos context tokens
KRB_TOK_AP_REQ = b"\x01\x00"
# RFC 4120 5.5.1 / 5.9.1: application tags
KRB_AP_REQ = 14
KRB_AP_REP = 15
KRB_ERROR = 30


@dataclass(frozen=True, slots=True)
class GssToken:
    """What a security blob carries. ``mech`` is ntlm | kerberos | None (unknown or empty)."""

    mech: str | None
    spnego: str | None = None  # "init" | "resp" | None for a raw token
    mech_types: tuple[str, ...] = ()
    neg_state: str | None = None  # NEG_STATES value from a NegTokenResp
    supported_mech: str | None = None
    ntlm: ntlm.NtlmMessage | None = None
    krb_msg_type: int | None = None  # 14 AP-REQ, 15 AP-REP, 30 KRB-ERROR
    ap_req: Any = None  # kerberos.ApReq (or the local fallback ApReq)


@dataclass(frozen=True, slots=True)
class ApReq:
    """Fallback AP-REQ view (RFC 4120 5.5.1) used only when ``protocols.kerberos`` is absent."""

    sname: str
    realm: str
    ticket_etype: int
    kvno: int | None
    ticket_fingerprint: str  # sha256(ticket enc-part cipher) hex[:32]
    authenticator_etype: int | None = None  # not read by the fallback

    @property
    def etype(self) -> int:
        """Alias of ticket_etype."""
        return self.ticket_etype


# ---------------------------------------------------------------- private BER reader (X.690 8.1)


def _tlv(buf: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """Read one TLV at ``pos``: (tag byte, content start, content end). Bounds-checked."""
    if pos + 2 > end:
        raise Malformed(f"gssapi: TLV header at {pos} runs past {end}")
    tag = buf[pos]
    if tag & 0x1F == 0x1F:
        raise Malformed(f"gssapi: multi-byte tag 0x{tag:02x} at {pos} not used by SPNEGO")
    first = buf[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if n == 0 or n > 4 or pos + n > end:
            raise Malformed(f"gssapi: length of {n} octets at {pos} is indefinite or too long")
        length = int.from_bytes(buf[pos : pos + n], "big")
        pos += n
    if pos + length > end:
        raise Malformed(f"gssapi: TLV 0x{tag:02x} length {length} exceeds the {end - pos} left")
    return tag, pos, pos + length


def _children(buf: bytes, start: int, end: int) -> dict[int, tuple[int, int]]:
    """Context-tagged children of a SEQUENCE body: {tag byte: (content start, end)}."""
    out: dict[int, tuple[int, int]] = {}
    pos = start
    while pos < end:
        tag, s, e = _tlv(buf, pos, end)
        out.setdefault(tag, (s, e))
        pos = e
    return out


def _int(buf: bytes, s: int, e: int) -> int:
    return int.from_bytes(buf[s:e], "big", signed=True) if e > s else 0


def _explicit(
    buf: bytes, kids: dict[int, tuple[int, int]], tag: int, inner: int
) -> tuple[int, int]:
    """The content of ``[tag] EXPLICIT <inner>``; Malformed if absent or of another type."""
    if tag not in kids:
        raise Malformed(f"gssapi: missing field [{tag & 0x1F}]")
    s, e = kids[tag]
    t, cs, ce = _tlv(buf, s, e)
    if t != inner:
        raise Malformed(f"gssapi: field [{tag & 0x1F}] has tag 0x{t:02x}, expected 0x{inner:02x}")
    return cs, ce


# ---------------------------------------------------------------- public API


def unwrap(data: bytes | memoryview) -> GssToken:
    """Unwrap one security blob (SPNEGO, raw NTLMSSP or Kerberos). Raises only InputError."""
    buf = bytes(data)
    if not buf:
        return GssToken(mech=None)
    if buf.startswith(ntlm.SIGNATURE):
        return GssToken(mech="ntlm", ntlm=ntlm.parse(buf))
    tag = buf[0]
    if tag == 0x60:  # RFC 2743 3.1 InitialContextToken
        _, s, e = _tlv(buf, 0, len(buf))
        t, os_, oe = _tlv(buf, s, e)
        if t != 0x06:
            raise Malformed(f"gssapi: InitialContextToken starts with 0x{t:02x}, not an OID")
        oid = buf[os_:oe]
        if oid == OID_SPNEGO:
            return _neg_token(buf, oe, e)
        if oid in (OID_KRB5, OID_MS_KRB5):
            return _krb_token(buf[oe:e], wrapped=True)
        raise Malformed(f"gssapi: unknown mechanism OID {oid.hex()}")
    if tag in (0xA0, 0xA1):
        return _neg_token(buf, 0, len(buf))
    if tag in (0x6E, 0x6F, 0x7E):
        return _krb_token(buf, wrapped=False)
    raise Malformed(f"gssapi: blob starts with 0x{tag:02x}, not SPNEGO, NTLMSSP or Kerberos")


def _neg_token(buf: bytes, pos: int, end: int) -> GssToken:
    """NegotiationToken CHOICE (RFC 4178 4.2): [0] NegTokenInit or [1] NegTokenResp."""
    tag, s, e = _tlv(buf, pos, end)
    t, ss, se = _tlv(buf, s, e)
    if t != 0x30:
        raise Malformed(f"gssapi: NegotiationToken body has tag 0x{t:02x}, not SEQUENCE")
    kids = _children(buf, ss, se)
    if tag == 0xA0:
        mechs: list[str] = []
        if 0xA0 in kids:
            ms, me = _explicit(buf, kids, 0xA0, 0x30)
            p = ms
            while p < me:
                ot, os_, oe = _tlv(buf, p, me)
                if ot == 0x06:
                    oid = buf[os_:oe]
                    mechs.append(MECH_NAMES.get(oid) or _oid_text(oid))
                p = oe
        inner = _inner(buf, kids)
        return _with_inner(inner, spnego="init", mech_types=tuple(mechs))
    if tag == 0xA1:
        state = None
        if 0xA0 in kids:
            es, ee = _explicit(buf, kids, 0xA0, 0x0A)
            value = _int(buf, es, ee)
            state = NEG_STATES.get(value, str(value))
        supported = None
        if 0xA1 in kids:
            os_, oe = _explicit(buf, kids, 0xA1, 0x06)
            oid = buf[os_:oe]
            supported = MECH_NAMES.get(oid) or _oid_text(oid)
        inner = _inner(buf, kids)
        return _with_inner(inner, spnego="resp", neg_state=state, supported_mech=supported)
    raise Malformed(f"gssapi: NegotiationToken choice 0x{tag:02x} is neither [0] nor [1]")


def _inner(buf: bytes, kids: dict[int, tuple[int, int]]) -> bytes:
    """mechToken [2] / responseToken [2] OCTET STRING content, or b""."""
    if 0xA2 not in kids:
        return b""
    s, e = _explicit(buf, kids, 0xA2, 0x04)
    return buf[s:e]


def _with_inner(inner: bytes, **kw: Any) -> GssToken:
    if not inner:
        return GssToken(mech=None, **kw)
    tok = unwrap(inner)
    return GssToken(
        mech=tok.mech,
        ntlm=tok.ntlm,
        krb_msg_type=tok.krb_msg_type,
        ap_req=tok.ap_req,
        **kw,
    )


def _krb_token(buf: bytes, *, wrapped: bool) -> GssToken:
    if wrapped:
        if len(buf) < 3:
            raise Malformed(f"gssapi: Kerberos token of {len(buf)} bytes has no TOK_ID")
        buf = buf[2:]  # RFC 4121 4.1 TOK_ID (01 00 AP-REQ, 02 00 AP-REP, 03 00 KRB-ERROR)
    if not buf:
        raise Malformed("gssapi: empty Kerberos token")
    app = buf[0] & 0x1F
    if app == KRB_AP_REQ:
        return GssToken(mech="kerberos", krb_msg_type=KRB_AP_REQ, ap_req=parse_ap_req(buf))
    if app in (KRB_AP_REP, KRB_ERROR):
        return GssToken(mech="kerberos", krb_msg_type=app)
    raise Malformed(f"gssapi: Kerberos application tag {app} is not AP-REQ/AP-REP/KRB-ERROR")


def parse_ap_req(data: bytes) -> Any:
    """AP-REQ through ``kerberos.parse_ap_req`` when available, else the local fallback."""
    try:
        from dcwatch.protocols import kerberos  # the other half of the sensor; may not exist yet
    except ImportError:
        return _parse_ap_req_local(data)
    fn = getattr(kerberos, "parse_ap_req", None)
    if fn is None:
        return _parse_ap_req_local(data)
    return fn(data)


def _parse_ap_req_local(buf: bytes) -> ApReq:
    """Minimal AP-REQ reader (RFC 4120 5.5.1): sname, realm, ticket etype, kvno, fingerprint."""
    tag, s, e = _tlv(buf, 0, len(buf))
    if tag != 0x6E:
        raise Malformed(f"kerberos: AP-REQ tag 0x{tag:02x}, expected 0x6e")
    t, ss, se = _tlv(buf, s, e)
    if t != 0x30:
        raise Malformed("kerberos: AP-REQ body is not a SEQUENCE")
    kids = _children(buf, ss, se)
    ts, te = _explicit(buf, kids, 0xA3, 0x61)  # ticket [3] Ticket ([APPLICATION 1])
    t, ts2, te2 = _tlv(buf, ts, te)
    if t != 0x30:
        raise Malformed("kerberos: Ticket body is not a SEQUENCE")
    tk = _children(buf, ts2, te2)
    rs, re_ = _explicit(buf, tk, 0xA1, 0x1B)
    realm = buf[rs:re_].decode("utf-8", "replace")
    ns, ne = _explicit(buf, tk, 0xA2, 0x30)
    nk = _children(buf, ns, ne)
    parts: list[str] = []
    if 0xA1 in nk:
        ls, le = _explicit(buf, nk, 0xA1, 0x30)
        p = ls
        while p < le:
            _, cs, ce = _tlv(buf, p, le)
            parts.append(buf[cs:ce].decode("utf-8", "replace"))
            p = ce
    es, ee = _explicit(buf, tk, 0xA3, 0x30)
    ek = _children(buf, es, ee)
    etype_s, etype_e = _explicit(buf, ek, 0xA0, 0x02)
    kvno = None
    if 0xA1 in ek:
        ks, ke = _explicit(buf, ek, 0xA1, 0x02)
        kvno = _int(buf, ks, ke)
    cs, ce = _explicit(buf, ek, 0xA2, 0x04)
    return ApReq(
        sname="/".join(parts),
        realm=realm,
        ticket_etype=_int(buf, etype_s, etype_e),
        kvno=kvno,
        ticket_fingerprint=hashlib.sha256(buf[cs:ce]).hexdigest()[:32],
    )


def safe_unwrap(data: bytes | memoryview) -> tuple[GssToken | None, str | None]:
    """``unwrap`` that returns (None, reason) instead of raising InputError."""
    try:
        return unwrap(data), None
    except InputError as exc:
        return None, str(exc)


def _oid_text(raw: bytes) -> str:
    """Dotted text of a DER OID body (X.690 8.19), for mechanisms we do not name."""
    if not raw:
        return ""
    first = raw[0]
    parts = [str(min(first // 40, 2)), str(first - 40 * min(first // 40, 2))]
    value = 0
    for b in raw[1:]:
        value = (value << 7) | (b & 0x7F)
        if not b & 0x80:
            parts.append(str(value))
            value = 0
    return ".".join(parts)
