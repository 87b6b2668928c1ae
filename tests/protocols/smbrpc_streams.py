"""Test helper: pcap bytes -> in-order TCP payloads fed to SMB / DCE/RPC analyzers.

Deliberately tiny and independent of ``dcwatch.sources.pcap`` / ``protocols.net`` (written in
parallel): classic pcap, Ethernet (+802.1Q), IPv4, TCP; in-order delivery per direction with
retransmissions dropped and out-of-order segments held until the hole is filled.
"""

from __future__ import annotations

import io
import socket
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dcwatch.model.activity import Activity
from dcwatch.protocols.flow import FlowContext, FlowInfo

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
OTRF = SHARED / "otrf-dev"
PCAPS = {
    "dcsync": ("credential_access/network/covenant_dcsync_dcerpc_drsuapi_DsGetNCChanges.zip", 0),
    "rubeus": ("credential_access/network/empire_shell_rubeus_asktgt_createnetonly.zip", 0),
    "samr": ("discovery/network/empire_shell_samr_EnumDomainUsers.zip", 0),
    "sc_query": ("lateral_movement/network/covenant_sc_query_dcerpc_smb_svcctl.zip", 0),
    "smbexec_ws5": ("lateral_movement/network/empire_smbexec_dcerpc_smb_svcctl.zip", 0),
    "smbexec_ws6": ("lateral_movement/network/empire_smbexec_dcerpc_smb_svcctl.zip", 1),
}


def pcap_bytes(name: str) -> tuple[str, bytes] | None:
    """(member name, capture bytes) of a named OTRF capture read from its zip in memory."""
    rel, index = PCAPS[name]
    path = OTRF / rel
    if not path.exists():
        return None
    with zipfile.ZipFile(path) as z:
        members = sorted(n for n in z.namelist() if n.endswith((".cap", ".pcap", ".pcapng")))
        member = members[index]
        return f"{path.name}!{member}", z.read(member)


def packets(data: bytes) -> Iterator[tuple[int, datetime, bytes]]:
    """(frame number from 1, timestamp, link-layer bytes) of a classic pcap."""
    f = io.BytesIO(data)
    gh = f.read(24)
    magic = gh[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise ValueError("not a classic pcap")
    nano = magic in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
    frame = 0
    while True:
        h = f.read(16)
        if len(h) < 16:
            return
        sec, frac, incl, _orig = struct.unpack(e + "IIII", h)
        frame += 1
        ts = datetime.fromtimestamp(sec + frac / (1e9 if nano else 1e6), UTC)
        yield frame, ts, f.read(incl)


def tcp_segments(
    data: bytes,
) -> Iterator[tuple[int, datetime, str, int, str, int, int, int, bytes]]:
    """(frame, ts, src, sport, dst, dport, seq, flags, payload) of each IPv4 TCP segment."""
    for frame, ts, pkt in packets(data):
        off = 12
        etype = struct.unpack_from(">H", pkt, off)[0]
        off += 2
        while etype == 0x8100:
            etype = struct.unpack_from(">H", pkt, off + 2)[0]
            off += 4
        if etype != 0x0800:
            continue
        ihl = (pkt[off] & 0x0F) * 4
        total = struct.unpack_from(">H", pkt, off + 2)[0]
        if pkt[off + 9] != 6:
            continue
        src = socket.inet_ntoa(pkt[off + 12 : off + 16])
        dst = socket.inet_ntoa(pkt[off + 16 : off + 20])
        t = off + ihl
        sport, dport, seq = struct.unpack_from(">HHI", pkt, t)
        doff = (pkt[t + 12] >> 4) * 4
        flags = pkt[t + 13]
        end = off + total
        if total < ihl + doff or end > len(pkt):
            end = len(pkt)  # TSO captures carry IP total length 0: use the captured bytes
        payload = pkt[t + doff : end]
        yield frame, ts, src, sport, dst, dport, seq, flags, payload


@dataclass
class _Dir:
    next_seq: int | None = None
    held: dict[int, tuple[int, datetime, bytes]] = field(default_factory=dict)


@dataclass
class Run:
    """What a capture produced: activities and the shared context."""

    activities: list[Activity]
    context: FlowContext
    analyzers: list[Any]


def run(
    name: str,
    data: bytes,
    factories: dict[int, Callable[[FlowInfo, Callable[[Activity], None]], Any]],
    context: FlowContext | None = None,
    use_rpc_ports: Callable[[FlowInfo, Callable[[Activity], None]], Any] | None = None,
) -> Run:
    """Feed every TCP connection whose server port has a factory (or is a learned RPC port)."""
    ctx = context or FlowContext()
    out: list[Activity] = []
    conns: dict[tuple[str, int, str, int], tuple[FlowInfo, Any, dict[bool, _Dir]]] = {}
    for frame, ts, src, sport, dst, dport, seq, flags, payload in tcp_segments(data):
        key_c = (src, sport, dst, dport)
        key_s = (dst, dport, src, sport)
        if key_c in conns:
            flow, an, dirs = conns[key_c]
            from_client = True
        elif key_s in conns:
            flow, an, dirs = conns[key_s]
            from_client = False
        else:
            factory = factories.get(dport)
            if factory is None and use_rpc_ports and (dst, dport) in ctx.rpc_ports:
                factory = use_rpc_ports
            if factory is None:
                continue
            flow = FlowInfo("tcp", src, sport, dst, dport, name, context=ctx)
            an = factory(flow, out.append)
            dirs = {True: _Dir(), False: _Dir()}
            conns[key_c] = (flow, an, dirs)
            from_client = True
        d = dirs[from_client]
        syn = bool(flags & 0x02)
        if syn:
            d.next_seq = (seq + 1) & 0xFFFFFFFF
            continue
        if not payload:
            continue
        if d.next_seq is None:
            d.next_seq = seq
        d.held[seq] = (frame, ts, payload)
        while True:
            nxt = d.next_seq
            item = d.held.pop(nxt, None)
            if item is None:
                # drop retransmissions that start before the expected sequence number
                for s in [s for s in d.held if ((nxt - s) & 0xFFFFFFFF) < 0x80000000]:
                    f2, t2, p2 = d.held.pop(s)
                    skip = (nxt - s) & 0xFFFFFFFF
                    if skip < len(p2):
                        d.held[nxt] = (f2, t2, p2[skip:])
                if nxt in d.held:
                    continue
                break
            f2, t2, p2 = item
            flow.frame, flow.ts = f2, t2
            an.data(from_client, p2)
            d.next_seq = (nxt + len(p2)) & 0xFFFFFFFF
    analyzers = []
    for _flow, an, _dirs in conns.values():
        an.close()
        analyzers.append(an)
    return Run(out, ctx, analyzers)


def run_smb_rpc(name: str, data: bytes) -> Run:
    """SMB on 445/139, DCE/RPC on 135 and on EPM-learned ports."""
    from dcwatch.protocols.dcerpc import DceRpcTcpAnalyzer
    from dcwatch.protocols.smb import SmbAnalyzer

    return run(
        name,
        data,
        {445: SmbAnalyzer, 139: SmbAnalyzer, 135: DceRpcTcpAnalyzer},
        use_rpc_ports=DceRpcTcpAnalyzer,
    )
