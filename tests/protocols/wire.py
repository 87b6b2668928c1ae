"""Test helpers: a tiny DER encoder, Kerberos/LDAP/DNS message builders and pcap/pcapng writers.

Used by the unit tests and by ``tests/data/protocols/synthetic-dc.pcap.py`` (which writes the
synthetic fixture checked against tshark). Encodings follow RFC 4120 / RFC 4511 / RFC 1035.
"""

from __future__ import annotations

import hashlib
import struct


def der_len(n: int) -> bytes:
    """X.690 8.1.3 definite length."""
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def tlv(tag: int, content: bytes) -> bytes:
    """One element."""
    return bytes([tag]) + der_len(len(content)) + content


def seq(*items: bytes) -> bytes:
    """SEQUENCE."""
    return tlv(0x30, b"".join(items))


def ctx(n: int, content: bytes) -> bytes:
    """Explicit context tag [n] (constructed)."""
    return tlv(0xA0 | n, content)


def app(n: int, content: bytes) -> bytes:
    """[APPLICATION n] constructed."""
    return tlv(0x60 | n, content)


def integer(v: int) -> bytes:
    """INTEGER (two's complement, minimal)."""
    n = max(1, (v.bit_length() + 8) // 8)
    return tlv(0x02, v.to_bytes(n, "big", signed=True))


def enum(v: int) -> bytes:
    """ENUMERATED."""
    return tlv(0x0A, integer(v)[2:])


def octets(b: bytes) -> bytes:
    """OCTET STRING."""
    return tlv(0x04, b)


def gstr(s: str) -> bytes:
    """GeneralString (KerberosString)."""
    return tlv(0x1B, s.encode())


def ktime(s: str) -> bytes:
    """KerberosTime."""
    return tlv(0x18, s.encode())


def boolean(v: bool) -> bytes:
    """BOOLEAN."""
    return tlv(0x01, b"\xff" if v else b"\x00")


# -- Kerberos (RFC 4120 section 5) ------------------------------------------------------------
def principal(name: str, ntype: int = 1) -> bytes:
    """PrincipalName."""
    return seq(ctx(0, integer(ntype)), ctx(1, seq(*[gstr(c) for c in name.split("/")])))


def enc_data(etype: int, cipher: bytes, kvno: int | None = None) -> bytes:
    """EncryptedData."""
    parts = [ctx(0, integer(etype))]
    if kvno is not None:
        parts.append(ctx(1, integer(kvno)))
    parts.append(ctx(2, octets(cipher)))
    return seq(*parts)


def ticket(realm: str, sname: str, etype: int, cipher: bytes, kvno: int = 2) -> bytes:
    """Ticket."""
    return app(1, seq(ctx(0, integer(5)), ctx(1, gstr(realm)), ctx(2, principal(sname, 2)),
                      ctx(3, enc_data(etype, cipher, kvno))))


def fp(cipher: bytes) -> str:
    """The fingerprint dcwatch computes for a ticket cipher."""
    return hashlib.sha256(cipher).hexdigest()[:32]


def pa(ptype: int, value: bytes) -> bytes:
    """PA-DATA."""
    return seq(ctx(1, integer(ptype)), ctx(2, octets(value)))


def kdc_options(*bits: int) -> bytes:
    """KDCOptions BIT STRING (32 bits)."""
    v = 0
    for b in bits:
        v |= 1 << (31 - b)
    return tlv(0x03, b"\x00" + v.to_bytes(4, "big"))


def ap_req(tkt: bytes, auth_etype: int = 18) -> bytes:
    """AP-REQ."""
    return app(14, seq(ctx(0, integer(5)), ctx(1, integer(14)),
                       ctx(2, tlv(0x03, b"\x00\x00\x00\x00\x00")), ctx(3, tkt),
                       ctx(4, enc_data(auth_etype, b"authenticator"))))


def kdc_req(msg_type: int, realm: str, sname: str, *, cname: str | None = None,
            etypes: tuple[int, ...] = (18, 17, 23), padata: tuple[bytes, ...] = (),
            options: tuple[int, ...] = (1, 8, 27), till: str = "20370913024805Z",
            additional: tuple[bytes, ...] = (), addresses: tuple[tuple[int, bytes], ...] = (),
            ) -> bytes:
    """AS-REQ (10) or TGS-REQ (12)."""
    body = [ctx(0, kdc_options(*options))]
    if cname:
        body.append(ctx(1, principal(cname)))
    body += [ctx(2, gstr(realm)), ctx(3, principal(sname, 2)), ctx(5, ktime(till)),
             ctx(7, integer(12345)), ctx(8, seq(*[integer(e) for e in etypes]))]
    if addresses:
        body.append(ctx(9, seq(*[seq(ctx(0, integer(t)), ctx(1, octets(a)))
                                 for t, a in addresses])))
    if additional:
        body.append(ctx(11, seq(*additional)))
    parts = [ctx(1, integer(5)), ctx(2, integer(msg_type))]
    if padata:
        parts.append(ctx(3, seq(*padata)))
    parts.append(ctx(4, seq(*body)))
    return app(msg_type, seq(*parts))


def kdc_rep(msg_type: int, crealm: str, cname: str, tkt: bytes, enc_etype: int = 18,
            padata: tuple[bytes, ...] = ()) -> bytes:
    """AS-REP (11) or TGS-REP (13)."""
    parts = [ctx(0, integer(5)), ctx(1, integer(msg_type))]
    if padata:
        parts.append(ctx(2, seq(*padata)))
    parts += [ctx(3, gstr(crealm)), ctx(4, principal(cname)), ctx(5, tkt),
              ctx(6, enc_data(enc_etype, b"encpart", 1))]
    return app(msg_type, seq(*parts))


def krb_error(code: int, realm: str, sname: str, cname: str | None = None,
              e_text: str | None = None) -> bytes:
    """KRB-ERROR."""
    parts = [ctx(0, integer(5)), ctx(1, integer(30)), ctx(4, ktime("20200920065645Z")),
             ctx(5, integer(1)), ctx(6, integer(code))]
    if cname:
        parts += [ctx(7, gstr(realm)), ctx(8, principal(cname))]
    parts += [ctx(9, gstr(realm)), ctx(10, principal(sname, 2))]
    if e_text:
        parts.append(ctx(11, gstr(e_text)))
    return app(30, seq(*parts))


# -- LDAP (RFC 4511) --------------------------------------------------------------------------
def ldap_msg(msgid: int, op: bytes, controls: bytes = b"") -> bytes:
    """LDAPMessage."""
    return seq(integer(msgid), op, controls)


def ldap_result(tag: int, code: int, extra: bytes = b"") -> bytes:
    """An LDAPResult-shaped response with protocolOp identifier ``tag``."""
    return tlv(tag, enum(code) + octets(b"") + octets(b"") + extra)


def ldap_search(base: str, scope: int, flt: bytes, attrs: tuple[str, ...] = (),
                size_limit: int = 0) -> bytes:
    """SearchRequest."""
    return tlv(0x63, octets(base.encode()) + enum(scope) + enum(0) + integer(size_limit)
               + integer(0) + boolean(False) + flt
               + seq(*[octets(a.encode()) for a in attrs]))


def f_eq(attr: str, value: bytes, tag: int = 0xA3) -> bytes:
    """equalityMatch (or >=, <=, ~= with another tag)."""
    return tlv(tag, octets(attr.encode()) + octets(value))


def f_present(attr: str) -> bytes:
    """present."""
    return tlv(0x87, attr.encode())


def f_and(*items: bytes) -> bytes:
    """and."""
    return tlv(0xA0, b"".join(items))


def f_or(*items: bytes) -> bytes:
    """or."""
    return tlv(0xA1, b"".join(items))


def f_not(item: bytes) -> bytes:
    """not."""
    return tlv(0xA2, item)


def f_sub(attr: str, initial: bytes | None, anys: tuple[bytes, ...], final: bytes | None
          ) -> bytes:
    """substrings."""
    parts = []
    if initial is not None:
        parts.append(tlv(0x80, initial))
    parts += [tlv(0x81, a) for a in anys]
    if final is not None:
        parts.append(tlv(0x82, final))
    return tlv(0xA4, octets(attr.encode()) + seq(*parts))


def f_ext(attr: str, rule: str, value: bytes) -> bytes:
    """extensibleMatch."""
    return tlv(0xA9, tlv(0x81, rule.encode()) + tlv(0x82, attr.encode()) + tlv(0x83, value))


def partial_attr(name: str, *values: bytes) -> bytes:
    """PartialAttribute."""
    return seq(octets(name.encode()), tlv(0x31, b"".join(octets(v) for v in values)))


# -- DNS (RFC 1035) ---------------------------------------------------------------------------
def dns_msg(txid: int, name: str, qtype: int, *, response: bool = False, rcode: int = 0,
            answers: int = 0) -> bytes:
    """A DNS message with one question (answers are dummy A records pointing at the name)."""
    flags = (0x8180 if response else 0x0100) | rcode
    q = b"".join(bytes([len(x)]) + x.encode() for x in name.split(".") if x) + b"\x00"
    body = q + struct.pack(">HH", qtype, 1)
    for _ in range(answers):
        body += b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 60, 4) + b"\x0a\x00\x00\x01"
    return struct.pack(">HHHHHH", txid, flags, 1, answers, 0, 0) + body


# -- packets and capture files ----------------------------------------------------------------
def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack(f">{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ipv4(src: str, dst: str, proto: int, payload: bytes, ident: int = 1, frag: int = 0) -> bytes:
    """IPv4 header + payload (``frag`` = flags/offset field)."""
    s = bytes(int(x) for x in src.split("."))
    d = bytes(int(x) for x in dst.split("."))
    hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, 64, proto, 0,
                      s, d)
    return hdr[:10] + struct.pack(">H", _csum(hdr)) + hdr[12:] + payload


def ipv6(src: bytes, dst: bytes, nh: int, payload: bytes) -> bytes:
    """IPv6 header + payload."""
    return struct.pack(">IHBB16s16s", 0x60000000, len(payload), nh, 64, src, dst) + payload


def tcp(sport: int, dport: int, seq_: int, ack: int, flags: int, payload: bytes = b"") -> bytes:
    """TCP header (no options, checksum left 0) + payload."""
    return struct.pack(">HHIIBBHHH", sport, dport, seq_, ack, 5 << 4, flags, 65535, 0, 0) \
        + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    """UDP header + payload."""
    return struct.pack(">HHHH", sport, dport, 8 + len(payload), 0) + payload


def ether(payload: bytes, ethertype: int = 0x0800, vlans: tuple[int, ...] = ()) -> bytes:
    """Ethernet II with optional 802.1Q tags."""
    hdr = b"\x00\x11\x22\x33\x44\x55\x00\x66\x77\x88\x99\xaa"
    for v in vlans:
        hdr += struct.pack(">HH", 0x8100, v)
    return hdr + struct.pack(">H", ethertype) + payload


def pcap(frames: list[tuple[float, bytes]], linktype: int = 1, nano: bool = False,
         big_endian: bool = False) -> bytes:
    """A pcap file."""
    o = ">" if big_endian else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(o + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)]
    for ts, f in frames:
        sec = int(ts)
        frac = round((ts - sec) * (1e9 if nano else 1e6))
        out.append(struct.pack(o + "IIII", sec, frac, len(f), len(f)) + f)
    return b"".join(out)


def read_pcap(data: bytes) -> tuple[int, list[tuple[float, bytes]]]:
    """Linktype and (ts, frame) of every record of a microsecond pcap (either byte order), read
    independently of dcwatch's reader: what ``pcap`` writes, and the fixtures' captures."""
    order = "<" if struct.unpack_from("<I", data, 0)[0] == 0xA1B2C3D4 else ">"
    linktype = struct.unpack_from(order + "I", data, 20)[0]
    out, pos = [], 24
    while pos + 16 <= len(data):
        sec, usec, incl, _ = struct.unpack_from(order + "IIII", data, pos)
        out.append((sec + usec * 1e-6, data[pos + 16 : pos + 16 + incl]))
        pos += 16 + incl
    return linktype, out


def _block(btype: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    n = len(body) + 12
    return struct.pack("<II", btype, n) + body + struct.pack("<I", n)


def pcapng(ifaces: list[tuple[int, int | None]], packets: list[tuple[int, int, bytes]],
           spb: list[bytes] = ()) -> bytes:
    """A pcapng file: ``ifaces`` = [(linktype, tsresol or None)], packets = (iface, ticks, data)."""
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    for lt, res in ifaces:
        opts = b""
        if res is not None:
            opts = struct.pack("<HHB3x", 9, 1, res) + struct.pack("<HH", 0, 0)
        out.append(_block(1, struct.pack("<HHI", lt, 0, 262144) + opts))
    for iface, ticks, data in packets:
        out.append(_block(6, struct.pack("<IIIII", iface, ticks >> 32, ticks & 0xFFFFFFFF,
                                         len(data), len(data)) + data))
    for data in spb:
        out.append(_block(3, struct.pack("<I", len(data)) + data))
    return b"".join(out)


class TcpSession:
    """Builds the frames of one TCP connection (handshake, data both ways, FIN)."""

    def __init__(self, client: str, cport: int, server: str, sport: int, t0: float = 1.6e9
                 ) -> None:
        self.c, self.cp, self.s, self.sp = client, cport, server, sport
        self.cseq, self.sseq = 1000, 5000
        self.t = t0
        self.frames: list[tuple[float, bytes]] = []
        self._pkt(True, 0x02, b"", seq_=self.cseq - 1)
        self._pkt(False, 0x12, b"", seq_=self.sseq - 1)
        self._pkt(True, 0x10, b"")

    def _pkt(self, from_client: bool, flags: int, data: bytes, seq_: int | None = None) -> None:
        self.t += 0.001
        if from_client:
            s = self.cseq if seq_ is None else seq_
            seg = tcp(self.cp, self.sp, s, self.sseq, flags, data)
            self.frames.append((self.t, ether(ipv4(self.c, self.s, 6, seg))))
        else:
            s = self.sseq if seq_ is None else seq_
            seg = tcp(self.sp, self.cp, s, self.cseq, flags, data)
            self.frames.append((self.t, ether(ipv4(self.s, self.c, 6, seg))))

    def send(self, from_client: bool, data: bytes, mss: int = 1400) -> None:
        """Send ``data`` in MSS-sized segments."""
        for i in range(0, len(data), mss):
            chunk = data[i : i + mss]
            self._pkt(from_client, 0x18, chunk)
            if from_client:
                self.cseq += len(chunk)
            else:
                self.sseq += len(chunk)

    def fin(self) -> None:
        """Close both directions."""
        self._pkt(True, 0x11, b"")
        self.cseq += 1
        self._pkt(False, 0x11, b"")
        self.sseq += 1
        self._pkt(True, 0x10, b"")


# -- X.509 / CMS / PKINIT (RFC 5280, RFC 5652, RFC 4556) ---------------------------------------
_DN_OIDS = {"CN": "2.5.4.3", "O": "2.5.4.10", "OU": "2.5.4.11", "C": "2.5.4.6",
            "DC": "0.9.2342.19200300.100.1.25"}


def oid(dotted: str) -> bytes:
    """OBJECT IDENTIFIER (X.690 8.19)."""
    arcs = [int(x) for x in dotted.split(".")]
    out = bytearray([40 * arcs[0] + arcs[1]])
    for a in arcs[2:]:
        chunk = [a & 0x7F]
        a >>= 7
        while a:
            chunk.append(0x80 | (a & 0x7F))
            a >>= 7
        out += bytes(reversed(chunk))
    return tlv(0x06, bytes(out))


def x509_name(text: str) -> bytes:
    """Name from RFC 4514-ish text ``CN=a,DC=corp,DC=local`` (most specific first)."""
    rdns = [tlv(0x31, seq(oid(_DN_OIDS[k]), tlv(0x13 if k == "C" else 0x0C, v.encode())))
            for k, v in (p.split("=", 1) for p in text.split(","))]
    return seq(*reversed(rdns))


def utc_time(s: str) -> bytes:
    """UTCTime (``YYMMDDHHMMSSZ``) or GeneralizedTime for years from 2050 (RFC 5280 4.1.2.5)."""
    if int(s[:4]) >= 2050:
        return tlv(0x18, s.encode())
    return tlv(0x17, s[2:].encode())


def certificate(issuer: str, subject: str, serial: int, not_before: str = "20260101000000Z",
                not_after: str = "20270101000000Z", upn: str | None = None,
                dns: tuple[str, ...] = (), ski: bytes | None = None) -> bytes:
    """A v3 certificate with a dummy key and signature (the parser never verifies)."""
    alg = seq(oid("1.2.840.113549.1.1.11"), tlv(0x05, b""))
    names = []
    if upn:
        names.append(tlv(0xA0, oid("1.3.6.1.4.1.311.20.2.3") + ctx(0, tlv(0x0C, upn.encode()))))
    names += [tlv(0x82, d.encode()) for d in dns]
    exts = []
    if names:
        exts.append(seq(oid("2.5.29.17"), octets(seq(*names))))
    if ski:
        exts.append(seq(oid("2.5.29.14"), octets(octets(ski))))
    spki = seq(seq(oid("1.2.840.113549.1.1.1"), tlv(0x05, b"")), tlv(0x03, b"\x00" + bytes(16)))
    tbs = [ctx(0, integer(2)), integer(serial), alg, x509_name(issuer),
           seq(utc_time(not_before), utc_time(not_after)), x509_name(subject), spki]
    if exts:
        tbs.append(ctx(3, seq(*exts)))
    return seq(seq(*tbs), alg, tlv(0x03, b"\x00" + b"\x5a" * 32))


def signed_auth_pack(certs: tuple[bytes, ...], signer: tuple[str, int] | None = None) -> bytes:
    """ContentInfo(SignedData) (RFC 5652 5.1) over a dummy AuthPack, signed by ``signer``."""
    sha256 = seq(oid("2.16.840.1.101.3.4.2.1"), tlv(0x05, b""))
    encap = seq(oid("1.3.6.1.5.2.3.1"), ctx(0, octets(seq(ctx(0, seq())))))  # id-pkinit-authData
    parts = [integer(3), tlv(0x31, sha256), encap]
    if certs:
        parts.append(tlv(0xA0, b"".join(certs)))
    infos = b""
    if signer:
        sid = seq(x509_name(signer[0]), integer(signer[1]))
        infos = seq(integer(1), sid, sha256, seq(oid("1.2.840.113549.1.1.1"), tlv(0x05, b"")),
                    octets(b"\x11" * 32))
    parts.append(tlv(0x31, infos))
    return seq(oid("1.2.840.113549.1.7.2"), ctx(0, seq(*parts)))


def pa_pk_as_req(certs: tuple[bytes, ...], signer: tuple[str, int] | None = None) -> bytes:
    """PA-DATA 16: PA-PK-AS-REQ { signedAuthPack [0] IMPLICIT OCTET STRING } (RFC 4556 3.2.1)."""
    return pa(16, seq(tlv(0x80, signed_auth_pack(certs, signer))))
