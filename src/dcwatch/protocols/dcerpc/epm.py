"""Endpoint mapper stub decoders (C706 appendix O ept_map, MS-RPCE 2.2.1.2).

The ept_map response towers tell which TCP port serves an interface: the connection records
them in ``FlowContext.rpc_ports`` so the flow layer can hand those connections to DCE/RPC.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from typing import Any

from dcwatch.errors import Malformed
from dcwatch.protocols.dcerpc.interfaces import interface_name
from dcwatch.protocols.dcerpc.ndr import NdrReader
from dcwatch.protocols.dcerpc.rpc import uuid_text

Decoder = Callable[[NdrReader], dict[str, Any]]

# C706 appendix I / MS-RPCE 2.2.1.2: protocol identifiers of tower floors
PROTO_UUID = 0x0D
PROTO_NCACN = 0x0B
PROTO_TCP = 0x07
PROTO_UDP = 0x08
PROTO_IP = 0x09
PROTO_NAMED_PIPE = 0x0F
PROTO_NETBIOS = 0x11
PROTO_HTTP = 0x1F
MAX_TOWERS = 64


def parse_tower(raw: bytes) -> dict[str, Any]:
    """Tower octets (floor count, floors of lhs/rhs) -> interface, protocol, port, ip, pipe."""
    if len(raw) < 2:
        raise Malformed(f"epm: tower of {len(raw)} bytes has no floor count")
    (count,) = struct.unpack_from("<H", raw)
    pos = 2
    out: dict[str, Any] = {}
    for i in range(count):
        if pos + 2 > len(raw):
            raise Malformed(f"epm: tower floor {i} header runs past {len(raw)} bytes")
        (lhs_len,) = struct.unpack_from("<H", raw, pos)
        lhs = raw[pos + 2 : pos + 2 + lhs_len]
        pos += 2 + lhs_len
        if pos + 2 > len(raw) or len(lhs) != lhs_len or not lhs:
            raise Malformed(f"epm: tower floor {i} lhs runs past {len(raw)} bytes")
        (rhs_len,) = struct.unpack_from("<H", raw, pos)
        rhs = raw[pos + 2 : pos + 2 + rhs_len]
        pos += 2 + rhs_len
        if len(rhs) != rhs_len:
            raise Malformed(f"epm: tower floor {i} rhs runs past {len(raw)} bytes")
        proto = lhs[0]
        if proto == PROTO_UUID and i == 0 and len(lhs) >= 19:
            iface = uuid_text(lhs, 1, True)  # NDR little-endian UUID (C706 appendix L)
            out["interface_uuid"] = iface
            out["interface"] = interface_name(iface)
            out["version"] = struct.unpack_from("<H", lhs, 17)[0]
        elif proto == PROTO_TCP and len(rhs) == 2:
            out["protocol"] = "tcp"
            out["port"] = struct.unpack(">H", rhs)[0]  # big-endian, as on the wire
        elif proto == PROTO_UDP and len(rhs) == 2:
            out["protocol"] = "udp"
            out["port"] = struct.unpack(">H", rhs)[0]
        elif proto == PROTO_HTTP and len(rhs) == 2:
            out["protocol"] = "http"
            out["port"] = struct.unpack(">H", rhs)[0]
        elif proto == PROTO_IP and len(rhs) == 4:
            out["ip"] = socket.inet_ntoa(rhs)
        elif proto == PROTO_NAMED_PIPE:
            out["protocol"] = "smb"
            out["pipe"] = rhs.rstrip(b"\x00").decode("latin-1")
    return out


def _tower(r: NdrReader) -> dict[str, Any]:
    # twr_t (C706 appendix N): conformant struct {tower_length, [size_is] tower_octet_string}
    r.conf("tower conformance")
    length = r.u32("tower_length")
    return parse_tower(r.raw(length, "tower_octet_string"))


def _ept_map(r: NdrReader) -> dict[str, Any]:
    # ept_map([in] handle_t, [in, ptr] uuid_p_t object, [in, ptr] twr_p_t map_tower, ...)
    if r.ptr("object"):
        r.guid("object")
    if not r.ptr("map_tower"):
        return {}
    tower = _tower(r)
    return {"interface": tower.get("interface"), "interface_uuid": tower.get("interface_uuid")}


def _ept_map_resp(r: NdrReader) -> dict[str, Any]:
    # ept_map out: entry_handle, num_towers, [ptr, size_is, length_is] twr_p_t towers[]
    r.handle("entry_handle")
    r.u32("num_towers")
    r.conf("towers max count")
    r.conf("towers offset")
    n = r.count("towers actual count", 4)
    refs = [r.ptr("towers[i]") for _ in range(n)]
    towers = []
    for ref in refs[:MAX_TOWERS]:
        if ref:
            r.align(4)
            towers.append(_tower(r))
    return {"towers": towers}


REQUESTS: dict[int, Decoder] = {3: _ept_map}
RESPONSES: dict[int, Decoder] = {3: _ept_map_resp}
