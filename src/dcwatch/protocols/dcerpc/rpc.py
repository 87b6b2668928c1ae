"""Connection-oriented DCE/RPC PDUs (C706 chapter 12, MS-RPCE 2.2.2).

Parses one PDU at a time: the common header (byte order from the data representation), bind /
alter_context with their presentation contexts, bind_ack / alter_context_resp results, request,
response and fault bodies, and the auth verifier (sec_trailer + token, C706 13.2.6.1). The stub
is a memoryview into the caller's buffer: no copies here.
"""

from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass

from dcwatch.errors import Malformed, Truncated

# C706 12.6.4: PDU types (connection-oriented)
REQUEST = 0
RESPONSE = 2
FAULT = 3
BIND = 11
BIND_ACK = 12
BIND_NAK = 13
ALTER_CONTEXT = 14
ALTER_CONTEXT_RESP = 15
AUTH3 = 16  # MS-RPCE 2.2.2.10 rpc_auth_3
SHUTDOWN = 17
CO_CANCEL = 18
ORPHANED = 19
PTYPE_NAMES = {
    REQUEST: "request",
    RESPONSE: "response",
    FAULT: "fault",
    BIND: "bind",
    BIND_ACK: "bind_ack",
    BIND_NAK: "bind_nak",
    ALTER_CONTEXT: "alter_context",
    ALTER_CONTEXT_RESP: "alter_context_resp",
    AUTH3: "auth3",
    SHUTDOWN: "shutdown",
    CO_CANCEL: "co_cancel",
    ORPHANED: "orphaned",
}
# C706 12.6.3.1: pfc_flags
PFC_FIRST_FRAG = 0x01
PFC_LAST_FRAG = 0x02
PFC_OBJECT_UUID = 0x80
# MS-RPCE 2.2.1.1.7 / C706 13.1.1: auth types
AUTH_TYPES = {
    0: "none",
    9: "spnego",
    10: "ntlm",
    14: "schannel",
    16: "kerberos",
    68: "netlogon",
    255: "default",
}
# C706 13.1.2.1: protection levels
AUTH_LEVELS = {1: "none", 2: "connect", 3: "call", 4: "packet", 5: "integrity", 6: "privacy"}
AUTH_LEVEL_PRIVACY = 6
HEADER_LEN = 16  # C706 12.6.3.1
SEC_TRAILER_LEN = 8  # C706 13.2.6.1 auth_verifier_co_t without the credentials
MAX_FRAG = 65535  # frag_length is 16 bits

_HDR = struct.Struct("<BBBB4sHHI")
_HDR_BE = struct.Struct(">BBBB4sHHI")


@dataclass(slots=True)
class Pdu:
    """One PDU. ``body`` runs from the end of the header to the start of the auth padding."""

    ptype: int
    flags: int
    little: bool
    frag_len: int
    call_id: int
    body: memoryview
    auth_type: int | None = None
    auth_level: int | None = None
    auth_value: bytes = b""


@dataclass(slots=True)
class Context:
    """One presentation context element (C706 12.6.3.1 p_cont_elem_t)."""

    ctx_id: int
    uuid: str
    version: str  # "major.minor"
    transfer: tuple[str, ...]


@dataclass(slots=True)
class BindAckResult:
    """One p_result_t: 0 acceptance, 1 user rejection, 2 provider rejection, 3 negotiate_ack."""

    result: int
    reason: int
    transfer: str


def frag_length(buf: bytes | bytearray | memoryview, pos: int = 0) -> int:
    """The frag_length of the PDU header at ``pos``; Truncated if fewer than 10 bytes."""
    if len(buf) - pos < 10:
        raise Truncated(f"dcerpc: {len(buf) - pos} bytes, need 10 for frag_length")
    if buf[pos] != 5:
        raise Malformed(f"dcerpc: rpc_vers {buf[pos]} is not 5 (connection-oriented)")
    little = bool(buf[pos + 4] & 0x10)
    return struct.unpack_from("<H" if little else ">H", buf, pos + 8)[0]


def parse_pdu(data: memoryview) -> Pdu:
    """Parse one complete PDU (exactly frag_length bytes). Raises Malformed."""
    if len(data) < HEADER_LEN:
        raise Malformed(f"dcerpc: PDU of {len(data)} bytes is shorter than the 16-byte header")
    little = bool(data[4] & 0x10)  # C706 14.1 NDR data representation: integer byte order
    vers, minor, ptype, flags, _drep, frag, auth_len, call_id = (
        _HDR if little else _HDR_BE
    ).unpack_from(data)
    if vers != 5:
        raise Malformed(f"dcerpc: rpc_vers {vers}.{minor}, expected 5")
    if frag < HEADER_LEN or frag > len(data):
        raise Malformed(f"dcerpc: frag_length {frag} outside 16..{len(data)}")
    end = frag
    pdu = Pdu(
        ptype=ptype,
        flags=flags,
        little=little,
        frag_len=frag,
        call_id=call_id,
        body=data[HEADER_LEN:end],
    )
    if auth_len:
        tstart = frag - auth_len - SEC_TRAILER_LEN
        if tstart < HEADER_LEN:
            raise Malformed(f"dcerpc: auth_length {auth_len} does not fit frag_length {frag}")
        atype, alevel, pad, _res = (
            data[tstart],
            data[tstart + 1],
            data[tstart + 2],
            data[tstart + 3],
        )
        pdu.auth_type = atype
        pdu.auth_level = alevel
        pdu.auth_value = bytes(data[tstart + SEC_TRAILER_LEN : frag])
        body_end = tstart - pad if ptype in (REQUEST, RESPONSE) else tstart
        if body_end < HEADER_LEN:
            raise Malformed(f"dcerpc: auth_pad_length {pad} runs before the body")
        pdu.body = data[HEADER_LEN:body_end]
    return pdu


_UUID_TEXT: dict[tuple[bytes, bool], str] = {}  # interface/transfer UUIDs repeat in every bind
_UUID_CACHE_MAX = 4096


def uuid_text(b: bytes | memoryview, pos: int, little: bool) -> str:
    """The UUID of the 16 bytes at ``pos`` as text (remembered: the same few repeat)."""
    raw = bytes(b[pos : pos + 16])
    key = (raw, little)
    text = _UUID_TEXT.get(key)
    if text is None:
        text = str(uuid.UUID(bytes_le=raw) if little else uuid.UUID(bytes=raw))
        if len(_UUID_TEXT) >= _UUID_CACHE_MAX:  # object UUIDs can be arbitrary: stay bounded
            _UUID_TEXT.clear()
        _UUID_TEXT[key] = text
    return text


def parse_bind(pdu: Pdu) -> list[Context]:
    """bind / alter_context body (C706 12.6.4.3): presentation context list."""
    b = pdu.body
    e = "<" if pdu.little else ">"
    if len(b) < 12:
        raise Malformed(f"dcerpc: bind body of {len(b)} bytes, need 12")
    n = b[8]
    pos = 12
    out: list[Context] = []
    for _ in range(n):
        if pos + 24 > len(b):
            raise Malformed(f"dcerpc: bind context at {pos} runs past the {len(b)}-byte body")
        ctx_id, n_ts = struct.unpack_from(e + "HB", b, pos)
        iface = uuid_text(b, pos + 4, pdu.little)
        major, minor = struct.unpack_from(e + "HH", b, pos + 20)
        pos += 24
        if pos + 20 * n_ts > len(b):
            raise Malformed(f"dcerpc: {n_ts} transfer syntaxes run past the bind body")
        ts = tuple(uuid_text(b, pos + 20 * i, pdu.little) for i in range(n_ts))
        pos += 20 * n_ts
        out.append(Context(ctx_id, iface, f"{major}.{minor}", ts))
    return out


def parse_bind_ack(pdu: Pdu) -> tuple[str, list[BindAckResult]]:
    """bind_ack / alter_context_resp body (C706 12.6.4.4): (secondary address, results)."""
    b = pdu.body
    e = "<" if pdu.little else ">"
    if len(b) < 10:
        raise Malformed(f"dcerpc: bind_ack body of {len(b)} bytes, need 10")
    (alen,) = struct.unpack_from(e + "H", b, 8)
    if 10 + alen > len(b):
        raise Malformed(f"dcerpc: sec_addr length {alen} runs past the bind_ack body")
    addr = bytes(b[10 : 10 + alen]).rstrip(b"\x00").decode("latin-1")
    pos = 10 + alen
    pos += (-(pos + HEADER_LEN)) % 4  # align 4 relative to the PDU start
    if pos + 4 > len(b):
        raise Malformed("dcerpc: bind_ack result list header missing")
    n = b[pos]
    pos += 4
    out: list[BindAckResult] = []
    for _ in range(n):
        if pos + 24 > len(b):
            raise Malformed(f"dcerpc: bind_ack result at {pos} runs past the body")
        result, reason = struct.unpack_from(e + "HH", b, pos)
        out.append(BindAckResult(result, reason, uuid_text(b, pos + 4, pdu.little)))
        pos += 24
    return addr, out


def parse_request(pdu: Pdu) -> tuple[int, int, str | None, memoryview]:
    """request body (C706 12.6.4.9): (ctx_id, opnum, object uuid, stub)."""
    b = pdu.body
    if len(b) < 8:
        raise Malformed(f"dcerpc: request body of {len(b)} bytes, need 8")
    ctx_id, opnum = struct.unpack_from("<HH" if pdu.little else ">HH", b, 4)
    obj = None
    pos = 8
    if pdu.flags & PFC_OBJECT_UUID:
        if len(b) < 24:
            raise Malformed("dcerpc: request with PFC_OBJECT_UUID has no room for the UUID")
        obj = uuid_text(b, 8, pdu.little)
        pos = 24
    return ctx_id, opnum, obj, b[pos:]


def parse_response(pdu: Pdu) -> tuple[int, memoryview]:
    """response body (C706 12.6.4.10): (ctx_id, stub)."""
    b = pdu.body
    if len(b) < 8:
        raise Malformed(f"dcerpc: response body of {len(b)} bytes, need 8")
    (ctx_id,) = struct.unpack_from("<H" if pdu.little else ">H", b, 4)
    return ctx_id, b[8:]


def parse_fault(pdu: Pdu) -> tuple[int, int]:
    """fault body (C706 12.6.4.7): (ctx_id, status)."""
    b = pdu.body
    if len(b) < 12:
        raise Malformed(f"dcerpc: fault body of {len(b)} bytes, need 12")
    ctx_id, _cc, _r, status = struct.unpack_from("<HBBI" if pdu.little else ">HBBI", b, 4)
    return ctx_id, status
