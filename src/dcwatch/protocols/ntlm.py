"""NTLMSSP messages (MS-NLMP 2.2.1): NEGOTIATE, CHALLENGE and AUTHENTICATE.

Parses what detection needs from the three messages wherever they travel (SMB session setup,
DCE/RPC bind/auth3, HTTP/LDAP): the user, domain and workstation of AUTHENTICATE (UTF-16 or OEM
per the UNICODE flag), the LM/NTLMv1/NTLMv2 classification, negotiate flags as names, MIC presence
(MsvAvFlags 0x2 plus the 16-byte MIC field), the NTLMv2 AV pairs (timestamp, channel bindings,
MsvAvTargetName SPN) and anonymous (null session) authentication. The CHALLENGE's TargetInfo
names the server; ``auth_activity`` puts those names on ``ntlm.auth`` (name resolution from the
wire). Every offset and length is bounds-checked against the blob; a bad blob raises
``Malformed`` and nothing else.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from dcwatch.errors import Malformed
from dcwatch.model.activity import Account, Activity, ActivityKind, Origin

SIGNATURE = b"NTLMSSP\x00"  # MS-NLMP 2.2.1.1 Signature

# MS-NLMP 2.2.1 MessageType
NEGOTIATE = 1
CHALLENGE = 2
AUTHENTICATE = 3

# MS-NLMP 2.2.2.5 NEGOTIATE flags (bit -> name, as the spec names them without the prefix)
FLAG_NAMES: dict[int, str] = {
    0x00000001: "NEGOTIATE_UNICODE",
    0x00000002: "NEGOTIATE_OEM",
    0x00000004: "REQUEST_TARGET",
    0x00000010: "NEGOTIATE_SIGN",
    0x00000020: "NEGOTIATE_SEAL",
    0x00000040: "NEGOTIATE_DATAGRAM",
    0x00000080: "NEGOTIATE_LM_KEY",
    0x00000200: "NEGOTIATE_NTLM",
    0x00000800: "ANONYMOUS",
    0x00001000: "NEGOTIATE_OEM_DOMAIN_SUPPLIED",
    0x00002000: "NEGOTIATE_OEM_WORKSTATION_SUPPLIED",
    0x00008000: "NEGOTIATE_ALWAYS_SIGN",
    0x00010000: "TARGET_TYPE_DOMAIN",
    0x00020000: "TARGET_TYPE_SERVER",
    0x00080000: "NEGOTIATE_EXTENDED_SESSIONSECURITY",
    0x00100000: "NEGOTIATE_IDENTIFY",
    0x00400000: "REQUEST_NON_NT_SESSION_KEY",
    0x00800000: "NEGOTIATE_TARGET_INFO",
    0x02000000: "NEGOTIATE_VERSION",
    0x20000000: "NEGOTIATE_128",
    0x40000000: "NEGOTIATE_KEY_EXCH",
    0x80000000: "NEGOTIATE_56",
}
NEGOTIATE_UNICODE = 0x00000001  # MS-NLMP 2.2.2.5 flag A
NEGOTIATE_ANONYMOUS = 0x00000800  # MS-NLMP 2.2.2.5 flag J
NEGOTIATE_EXTENDED_SESSIONSECURITY = 0x00080000  # MS-NLMP 2.2.2.5 flag P
NEGOTIATE_VERSION = 0x02000000  # MS-NLMP 2.2.2.5 flag T

# MS-NLMP 2.2.2.1 AV_PAIR AvId
AV_EOL = 0x0000
AV_NB_COMPUTER_NAME = 0x0001
AV_NB_DOMAIN_NAME = 0x0002
AV_DNS_COMPUTER_NAME = 0x0003
AV_DNS_DOMAIN_NAME = 0x0004
AV_DNS_TREE_NAME = 0x0005
AV_FLAGS = 0x0006
AV_TIMESTAMP = 0x0007
AV_SINGLE_HOST = 0x0008
AV_TARGET_NAME = 0x0009
AV_CHANNEL_BINDINGS = 0x000A
AV_FLAG_MIC_PRESENT = 0x00000002  # MS-NLMP 2.2.2.1 MsvAvFlags bit: the MIC field is filled

_AV_TEXT = {
    AV_NB_COMPUTER_NAME: "nb_computer_name",
    AV_NB_DOMAIN_NAME: "nb_domain_name",
    AV_DNS_COMPUTER_NAME: "dns_computer_name",
    AV_DNS_DOMAIN_NAME: "dns_domain_name",
    AV_DNS_TREE_NAME: "dns_tree_name",
    AV_TARGET_NAME: "target_name",
}

_AUTH_HEADER = 64  # MS-NLMP 2.2.1.3: fixed fields up to and including NegotiateFlags
_MIC_END = 88  # MS-NLMP 2.2.1.3: Version (8) at 64 and MIC (16) at 72
_NTLMV2_AV_OFFSET = 44  # MS-NLMP 2.2.2.8/2.2.2.7: NTProofStr(16) + client challenge header(28)
_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=UTC)
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_FIELD = struct.Struct("<HHI")  # MS-NLMP 2.2.1 *Fields: Len, MaxLen, BufferOffset


@dataclass(frozen=True, slots=True)
class NtlmNegotiate:
    """NEGOTIATE_MESSAGE (MS-NLMP 2.2.1.1)."""

    flags: int
    domain: str | None
    workstation: str | None
    msg_type: int = NEGOTIATE
    version: tuple[int, int, int] | None = None  # (major, minor, build) when NEGOTIATE_VERSION


@dataclass(frozen=True, slots=True)
class NtlmChallenge:
    """CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2): the server's names travel in TargetInfo."""

    flags: int
    server_challenge: bytes
    target_name: str | None
    target_info: dict[str, Any]  # AV pair texts (nb_computer_name, dns_domain_name, ...)
    timestamp: datetime | None
    msg_type: int = CHALLENGE


@dataclass(frozen=True, slots=True)
class NtlmAuthenticate:
    """AUTHENTICATE_MESSAGE (MS-NLMP 2.2.1.3) with the classification detectors need."""

    flags: int
    user: str
    domain: str
    workstation: str
    lm_response_len: int
    nt_response_len: int
    ntlm_version: str  # "v2" | "v1" | "lm" | "anonymous"
    ess: bool  # NTLMv1 with extended session security (NTLM2 session response)
    mic_present: bool  # MsvAvFlags says MIC is filled and the message has room for it
    mic_field: bool  # the 16-byte MIC field exists (payload starts at or after offset 88)
    av_flags: int | None
    timestamp: datetime | None
    channel_bindings_present: bool  # MsvAvChannelBindings non-zero (EPA)
    target_spn: str | None  # MsvAvTargetName, e.g. cifs/dc01.corp.local
    av_names: dict[str, str] = field(default_factory=dict)
    session_key_len: int = 0
    msg_type: int = AUTHENTICATE

    @property
    def anonymous(self) -> bool:
        """Null session: no user and no NT response (MS-NLMP 3.2.5.1.2)."""
        return self.ntlm_version == "anonymous"

    @property
    def account(self) -> Account | None:
        """The authenticating account, or None for anonymous."""
        if self.anonymous or not self.user:
            return None
        return Account(name=self.user, domain=self.domain or None)


NtlmMessage = NtlmNegotiate | NtlmChallenge | NtlmAuthenticate


def flag_names(flags: int) -> list[str]:
    """The NEGOTIATE flag names set in ``flags`` (MS-NLMP 2.2.2.5), lowest bit first."""
    return [name for bit, name in FLAG_NAMES.items() if flags & bit]


def is_ntlmssp(data: bytes | memoryview) -> bool:
    """True when ``data`` starts with the NTLMSSP signature."""
    return bytes(data[:8]) == SIGNATURE


def parse(data: bytes | memoryview) -> NtlmMessage:
    """Parse one NTLMSSP message. Raises Malformed on any bad length, offset or type."""
    buf = bytes(data)
    if len(buf) < 12:
        raise Malformed(f"ntlm: message of {len(buf)} bytes is shorter than the 12-byte header")
    if buf[:8] != SIGNATURE:
        raise Malformed(f"ntlm: signature {buf[:8]!r} is not NTLMSSP\\0")
    (msg_type,) = _U32.unpack_from(buf, 8)
    if msg_type == NEGOTIATE:
        return _parse_negotiate(buf)
    if msg_type == CHALLENGE:
        return _parse_challenge(buf)
    if msg_type == AUTHENTICATE:
        return _parse_authenticate(buf)
    raise Malformed(f"ntlm: message type {msg_type} is not 1, 2 or 3")


def _need(buf: bytes, size: int, what: str) -> None:
    if len(buf) < size:
        raise Malformed(f"ntlm: {what} needs {size} bytes, message has {len(buf)}")


def _field(buf: bytes, at: int, what: str) -> tuple[bytes, int]:
    """Read a Len/MaxLen/Offset descriptor at ``at``: (payload bytes, offset)."""
    length, _max, offset = _FIELD.unpack_from(buf, at)
    if length and offset + length > len(buf):
        raise Malformed(
            f"ntlm: {what} at offset {offset} length {length} exceeds the {len(buf)}-byte message"
        )
    return buf[offset : offset + length], offset


def _text(raw: bytes, unicode: bool) -> str:
    if unicode:
        return raw.decode("utf-16-le", "replace")
    return raw.decode("cp437", "replace")  # OEM code page: cp437 is Windows' US default


def _parse_negotiate(buf: bytes) -> NtlmNegotiate:
    _need(buf, 16, "NEGOTIATE flags")
    (flags,) = _U32.unpack_from(buf, 12)
    domain = workstation = None
    if len(buf) >= 32:  # old clients send only the 16-byte form
        d, _ = _field(buf, 16, "DomainName")
        w, _ = _field(buf, 24, "Workstation")
        # MS-NLMP 2.2.1.1: both are always OEM in NEGOTIATE
        domain = _text(d, False) or None
        workstation = _text(w, False) or None
    version = None
    if flags & NEGOTIATE_VERSION and len(buf) >= 40:  # MS-NLMP 2.2.2.10 VERSION at 32
        version = (buf[32], buf[33], _U16.unpack_from(buf, 34)[0])
    return NtlmNegotiate(flags=flags, domain=domain, workstation=workstation, version=version)


def _parse_challenge(buf: bytes) -> NtlmChallenge:
    _need(buf, 32, "CHALLENGE")
    (flags,) = _U32.unpack_from(buf, 20)
    unicode = bool(flags & NEGOTIATE_UNICODE)
    target, _ = _field(buf, 12, "TargetName")
    info: dict[str, Any] = {}
    ts = None
    if len(buf) >= 48:
        raw_info, _ = _field(buf, 40, "TargetInfo")
        pairs = parse_av_pairs(raw_info)
        info = {name: pairs[av] for av, name in _AV_TEXT.items() if av in pairs}
        ts = pairs.get(AV_TIMESTAMP)
    return NtlmChallenge(
        flags=flags,
        server_challenge=buf[24:32],
        target_name=_text(target, unicode) or None,
        target_info=info,
        timestamp=ts,
    )


def _parse_authenticate(buf: bytes) -> NtlmAuthenticate:
    _need(buf, _AUTH_HEADER, "AUTHENTICATE header")
    (flags,) = _U32.unpack_from(buf, 60)
    unicode = bool(flags & NEGOTIATE_UNICODE)
    lm, lm_off = _field(buf, 12, "LmChallengeResponse")
    nt, nt_off = _field(buf, 20, "NtChallengeResponse")
    dom, dom_off = _field(buf, 28, "DomainName")
    user, user_off = _field(buf, 36, "UserName")
    ws, ws_off = _field(buf, 44, "Workstation")
    key, key_off = _field(buf, 52, "EncryptedRandomSessionKey")
    # MS-NLMP 2.2.1.3: the MIC field exists when the payload starts at or after offset 88.
    offsets = [
        o
        for raw, o in (
            (lm, lm_off),
            (nt, nt_off),
            (dom, dom_off),
            (user, user_off),
            (ws, ws_off),
            (key, key_off),
        )
        if raw
    ]
    payload_start = min(offsets) if offsets else len(buf)
    mic_field = payload_start >= _MIC_END and len(buf) >= _MIC_END
    av: dict[int, Any] = {}
    if len(nt) > 24:
        if len(nt) < _NTLMV2_AV_OFFSET:
            raise Malformed(f"ntlm: NTLMv2 response of {len(nt)} bytes is shorter than 44")
        av = parse_av_pairs(nt[_NTLMV2_AV_OFFSET:])
        version = "v2"
    elif len(nt) == 24:
        version = "v1"
    elif len(nt) == 0 and not user and len(lm) <= 1:
        version = "anonymous"  # MS-NLMP 3.2.5.1.2: anonymous = empty NT, Z(1) or empty LM
    elif len(nt) == 0 and len(lm) == 24:
        version = "lm"
    else:
        raise Malformed(f"ntlm: NtChallengeResponse length {len(nt)} is neither 0, 24 nor > 24")
    av_flags = av.get(AV_FLAGS)
    mic_present = bool(av_flags is not None and av_flags & AV_FLAG_MIC_PRESENT and mic_field)
    cb = av.get(AV_CHANNEL_BINDINGS)
    return NtlmAuthenticate(
        flags=flags,
        user=_text(user, unicode),
        domain=_text(dom, unicode),
        workstation=_text(ws, unicode),
        lm_response_len=len(lm),
        nt_response_len=len(nt),
        ntlm_version=version,
        ess=version == "v1" and bool(flags & NEGOTIATE_EXTENDED_SESSIONSECURITY),
        mic_present=mic_present,
        mic_field=mic_field,
        av_flags=av_flags,
        timestamp=av.get(AV_TIMESTAMP),
        channel_bindings_present=bool(cb) and cb != "0" * 32,
        target_spn=av.get(AV_TARGET_NAME),
        av_names={name: av[k] for k, name in _AV_TEXT.items() if k in av},
        session_key_len=len(key),
    )


def parse_av_pairs(raw: bytes) -> dict[int, Any]:
    """AV_PAIR list (MS-NLMP 2.2.2.1) -> {AvId: value}; texts decoded, flags as int.

    A list without MsvAvEOL is accepted (Samba and some clients omit it); a pair running past
    the end raises Malformed.
    """
    out: dict[int, Any] = {}
    pos = 0
    end = len(raw)
    while pos + 4 <= end:
        av_id, av_len = struct.unpack_from("<HH", raw, pos)
        pos += 4
        if av_id == AV_EOL:
            break
        if pos + av_len > end:
            raise Malformed(f"ntlm: AV pair {av_id} length {av_len} exceeds the {end - pos} left")
        value = raw[pos : pos + av_len]
        pos += av_len
        if av_id in _AV_TEXT:
            out[av_id] = value.decode("utf-16-le", "replace")
        elif av_id == AV_FLAGS and av_len >= 4:
            out[av_id] = _U32.unpack_from(value)[0]
        elif av_id == AV_TIMESTAMP and av_len >= 8:
            out[av_id] = filetime(struct.unpack_from("<Q", value)[0])
        elif av_id == AV_CHANNEL_BINDINGS:
            out[av_id] = value.hex()
        else:
            out[av_id] = value.hex()
    return out


def filetime(value: int) -> datetime | None:
    """Windows FILETIME (100 ns since 1601) -> aware UTC datetime; None when out of range."""
    if value == 0 or value >= 0x7FFFFFFFFFFFFFFF:
        return None
    try:
        return _FILETIME_EPOCH + timedelta(microseconds=value // 10)
    except OverflowError:
        return None


def auth_activity(
    msg: NtlmAuthenticate,
    *,
    ts: datetime,
    origin: Origin,
    via: str,
    src_ip: str | None = None,
    src_port: int | None = None,
    dst_ip: str | None = None,
    dst_port: int | None = None,
    status: int | None = None,
    challenge: NtlmChallenge | None = None,
) -> Activity:
    """The ``ntlm.auth`` activity for one AUTHENTICATE (``via`` = smb | dcerpc | http | ldap).

    ``challenge`` is the server's CHALLENGE of the same exchange: its TargetInfo names the
    server (MsvAvNbComputerName, MsvAvDnsComputerName, MsvAvDnsDomainName), which resolves the
    server's address to a computer from the wire alone (what MDI's NNR does over NTLM/RPC)."""
    outcome = None if status is None else ("success" if status == 0 else "failure")
    info = challenge.target_info if challenge is not None else {}
    return Activity(
        ts=ts,
        kind=ActivityKind.NTLM_AUTH,
        origin=origin,
        host=dst_ip,
        src_ip=src_ip,
        src_port=src_port,
        src_host=msg.workstation or None,
        dst_ip=dst_ip,
        dst_port=dst_port,
        actor=msg.account,
        outcome=outcome,
        status=status,
        protocol="ntlm",
        fields={
            "user": msg.user,
            "domain": msg.domain,
            "workstation": msg.workstation,
            "ntlm_version": msg.ntlm_version,
            "ess": msg.ess,
            "flags": flag_names(msg.flags),
            "mic_present": msg.mic_present,
            # MsvAvFlags from the client's AV pairs and whether the MIC field exists: a MIC
            # announced (0x2) but absent is "drop the MIC" (CVE-2019-1040)
            "av_flags": msg.av_flags,
            "mic_field": msg.mic_field,
            "channel_bindings": msg.channel_bindings_present,
            "target_spn": msg.target_spn,
            "anonymous": msg.anonymous,
            "via": via,
            "server_netbios_name": info.get("nb_computer_name"),
            "server_dns_name": info.get("dns_computer_name"),
            "server_dns_domain": info.get("dns_domain_name"),
        },
    )
