"""RADIUS accounting (RFC 2866) over UDP/1813: VPN connection starts, stops and updates.

Parses the packet header (RFC 2865 section 3) and the attributes that tell who connected, from
where and with which inner address: User-Name, NAS-IP-Address, NAS-Identifier,
Framed-IP-Address, Called/Calling-Station-Id, Acct-Status-Type, Acct-Session-Id,
Acct-Session-Time and Tunnel-Client-Endpoint (RFC 2868). One ``radius.accounting`` activity
per Accounting-Request; Accounting-Responses only acknowledge and emit nothing. Attribute
values are in clear in accounting packets (only User-Password, absent here, is hidden).
Validated against tshark: tests/protocols/test_radius.py.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field
from typing import Any

from dcwatch.errors import Malformed, Truncated
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.protocols.flow import Emit, FlowInfo

HEADER_LEN = 20  # RFC 2865 3: Code, Identifier, Length, 16-byte Authenticator
MAX_LEN = 4096  # RFC 2865 3: maximum packet length
# RFC 2866 4: packet codes
ACCOUNTING_REQUEST = 4
ACCOUNTING_RESPONSE = 5
# RFC 2865 5 / RFC 2866 5 / RFC 2868 3 attribute types
USER_NAME = 1
NAS_IP_ADDRESS = 4
FRAMED_IP_ADDRESS = 8
CALLED_STATION_ID = 30
CALLING_STATION_ID = 31
NAS_IDENTIFIER = 32
ACCT_STATUS_TYPE = 40
ACCT_SESSION_ID = 44
ACCT_SESSION_TIME = 46
TUNNEL_CLIENT_ENDPOINT = 66
# RFC 2866 5.1 Acct-Status-Type values
STATUS_TYPES = {1: "Start", 2: "Stop", 3: "Interim-Update", 7: "Accounting-On",
                8: "Accounting-Off"}
_HDR = struct.Struct(">BBH").unpack_from


@dataclass(frozen=True, slots=True)
class RadiusPacket:
    """One RADIUS packet: header and the accounting attributes dcwatch reads."""

    code: int
    identifier: int
    status_type: int | None = None
    user_name: str | None = None
    nas_ip: str | None = None
    nas_identifier: str | None = None
    framed_ip: str | None = None
    called_station_id: str | None = None
    calling_station_id: str | None = None
    session_id: str | None = None
    session_time: int | None = None
    tunnel_client_endpoint: str | None = None
    attribute_types: tuple[int, ...] = field(default=())


def _text(v: bytes) -> str:
    return v.decode("utf-8", "backslashreplace")


def _int(t: int, v: bytes) -> int:
    if len(v) != 4:
        raise Malformed(f"radius: attribute {t} needs 4 bytes, has {len(v)}")
    return int.from_bytes(v, "big")


def _ipv4(t: int, v: bytes) -> str:
    if len(v) != 4:
        raise Malformed(f"radius: address attribute {t} needs 4 bytes, has {len(v)}")
    return str(ipaddress.IPv4Address(v))


def parse(data: bytes) -> RadiusPacket:
    """Parse one RADIUS packet. Raises Truncated when cut short, Malformed when invalid."""
    b = bytes(data)
    if len(b) < HEADER_LEN:
        raise Truncated(f"radius: header needs {HEADER_LEN} bytes, {len(b)} left")
    code, ident, length = _HDR(b, 0)
    if length < HEADER_LEN or length > MAX_LEN:
        raise Malformed(f"radius: length {length} outside {HEADER_LEN}..{MAX_LEN}")
    if length > len(b):
        raise Truncated(f"radius: length {length} exceeds the {len(b)} bytes captured")
    attrs: dict[str, Any] = {}
    types: list[int] = []
    off = HEADER_LEN
    while off < length:  # RFC 2865 5: octets beyond Length are padding, ignored
        if off + 2 > length:
            raise Malformed("radius: attribute header cut by the packet length")
        t, alen = b[off], b[off + 1]
        if alen < 2 or off + alen > length:
            raise Malformed(f"radius: attribute {t} length {alen} exceeds the "
                            f"{length - off} bytes left")
        v = b[off + 2 : off + alen]
        off += alen
        types.append(t)
        if t == USER_NAME:
            attrs.setdefault("user_name", _text(v))
        elif t == NAS_IP_ADDRESS:
            attrs.setdefault("nas_ip", _ipv4(t, v))
        elif t == FRAMED_IP_ADDRESS:
            attrs.setdefault("framed_ip", _ipv4(t, v))
        elif t == CALLED_STATION_ID:
            attrs.setdefault("called_station_id", _text(v))
        elif t == CALLING_STATION_ID:
            attrs.setdefault("calling_station_id", _text(v))
        elif t == NAS_IDENTIFIER:
            attrs.setdefault("nas_identifier", _text(v))
        elif t == ACCT_STATUS_TYPE:
            attrs.setdefault("status_type", _int(t, v))
        elif t == ACCT_SESSION_ID:
            attrs.setdefault("session_id", _text(v))
        elif t == ACCT_SESSION_TIME:
            attrs.setdefault("session_time", _int(t, v))
        elif t == TUNNEL_CLIENT_ENDPOINT and v:
            # RFC 2868 3.3: an optional tag octet (0x01-0x1F) precedes the address string
            attrs.setdefault("tunnel_client_endpoint", _text(v[1:] if v[0] < 0x20 else v))
    return RadiusPacket(code, ident, attribute_types=tuple(types), **attrs)


def split_user(name: str | None) -> Account | None:
    """``DOMAIN\\user`` or ``user@realm`` as an account (the NAS writes what the user typed)."""
    if not name:
        return None
    if "\\" in name:
        dom, _, user = name.partition("\\")
        return Account(user or None, dom or None)
    if "@" in name:
        user, _, realm = name.partition("@")
        return Account(user or None, realm or None)
    return Account(name)


def to_activity(p: RadiusPacket, flow: FlowInfo) -> Activity | None:
    """The ``radius.accounting`` activity of an Accounting-Request (None for other codes)."""
    if p.code != ACCOUNTING_REQUEST:
        return None
    fields: dict[str, Any] = {
        "status_type": p.status_type,
        "status": STATUS_TYPES.get(p.status_type, str(p.status_type))
        if p.status_type is not None else None,
        "user_name": p.user_name, "nas_ip": p.nas_ip, "nas_identifier": p.nas_identifier,
        "framed_ip": p.framed_ip, "called_station_id": p.called_station_id,
        "calling_station_id": p.calling_station_id, "session_id": p.session_id,
        "session_time": p.session_time, "tunnel_client_endpoint": p.tunnel_client_endpoint,
        "radius_id": p.identifier, "sub": flow.frame,
    }
    assert flow.ts is not None
    return Activity(
        ts=flow.ts, kind=ActivityKind.RADIUS_ACCOUNTING, origin=flow.origin(),
        host=flow.server_ip, src_ip=flow.client_ip, src_port=flow.client_port,
        dst_ip=flow.server_ip, dst_port=flow.server_port, actor=split_user(p.user_name),
        protocol="radius", fields={k: v for k, v in fields.items() if v is not None},
    )


class RadiusAnalyzer:
    """DatagramAnalyzer for RADIUS accounting: one packet per UDP datagram (RFC 2865 3)."""

    def __init__(self, flow: FlowInfo, emit: Emit) -> None:
        self.flow = flow
        self.emit = emit

    def datagram(self, from_client: bool, payload: bytes) -> None:
        """Parse one datagram; emit the accounting activity of a request."""
        act = to_activity(parse(payload), self.flow)
        if act is not None:
            self.emit(act)

    def close(self) -> None:
        """Nothing is pending: requests are reported as they arrive."""
