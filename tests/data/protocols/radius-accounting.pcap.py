"""Generator of radius-accounting.pcap: RADIUS accounting (RFC 2866) sent by a VPN server.

A VPN concentrator (NAS 10.0.0.5) reports sessions to NPS on the DC (10.0.0.10, UDP 1813):
alice connects from one public address on seven days over five weeks, then from a new one;
bob connects twice from his usual address. Starts, an Interim-Update and Stops (with
Acct-Session-Time), Tunnel-Client-Endpoint with an RFC 2868 tag, Accounting-Responses, and a
NAS reboot (Accounting-On, no user). Request Authenticators follow RFC 2866 3 (shared secret
``testing123``). Frames are Ethernet/IPv4/UDP packed with struct (tests/protocols/wire.py).
Run: ``.venv/bin/python tests/data/protocols/radius-accounting.pcap.py`` (then
``scripts/make_tshark_oracles.py``).
"""

from __future__ import annotations

import hashlib
import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "protocols"))

import wire as w

NAS, NPS, SECRET = "10.0.0.5", "10.0.0.10", b"testing123"
T0 = 1_767_261_600.0  # 2026-01-01 10:00 UTC
DAY = 86_400.0
frames: list[tuple[float, bytes]] = []
_ident = 0


def attr(t: int, v: bytes) -> bytes:
    """RFC 2865 5: Type, Length, Value."""
    return struct.pack(">BB", t, 2 + len(v)) + v


def s(t: int, v: str) -> bytes:
    return attr(t, v.encode())


def i(t: int, v: int) -> bytes:
    return attr(t, v.to_bytes(4, "big"))


def a(t: int, ip: str) -> bytes:
    return attr(t, bytes(int(x) for x in ip.split(".")))


def packet(code: int, ident: int, attrs: bytes, req_auth: bytes | None = None) -> bytes:
    """RFC 2866 3: Authenticator = MD5(Code+ID+Length+(16 zero | request auth)+attrs+secret)."""
    length = 20 + len(attrs)
    head = struct.pack(">BBH", code, ident, length)
    auth = hashlib.md5(head + (req_auth or bytes(16)) + attrs + SECRET).digest()
    return head + auth + attrs


def account(ts: float, status: int, user: str | None, *, calling: str = "",
            framed: str = "", session: str = "", session_time: int | None = None,
            endpoint: str = "") -> None:
    """One Accounting-Request from the NAS and NPS's Accounting-Response."""
    global _ident
    _ident = (_ident + 1) % 256
    body = i(40, status)
    if user:
        body += s(1, user)
    body += a(4, NAS) + s(32, "vpn-gw01")
    if framed:
        body += a(8, framed)
    if calling:
        body += s(30, "198.18.0.1") + s(31, calling)
    if session:
        body += s(44, session)
    if session_time is not None:
        body += i(46, session_time)
    if endpoint:
        body += attr(66, b"\x01" + endpoint.encode())
    req = packet(4, _ident, body)
    rep = packet(5, _ident, b"", req[4:20])
    frames.append((ts, w.ether(w.ipv4(NAS, NPS, 17, w.udp(50000 + _ident, 1813, req)))))
    frames.append((ts + 0.002, w.ether(w.ipv4(NPS, NAS, 17, w.udp(1813, 50000 + _ident, rep)))))


account(T0 - 60, 7, None)  # Accounting-On: the NAS (re)started
for day in (0, 3, 6, 10, 15, 22, 29):
    t = T0 + day * DAY
    sid = f"A{day:03d}"
    account(t, 1, "CONTOSO\\alice", calling="203.0.113.10", framed="172.16.5.21", session=sid,
            endpoint="203.0.113.10")
    if day == 10:
        account(t + 600, 3, "CONTOSO\\alice", calling="203.0.113.10", framed="172.16.5.21",
                session=sid, session_time=600)
    account(t + 3600, 2, "CONTOSO\\alice", calling="203.0.113.10", framed="172.16.5.21",
            session=sid, session_time=3600)
for day in (1, 2):
    account(T0 + day * DAY, 1, "bob@contoso.local", calling="203.0.113.44",
            framed="172.16.5.40", session=f"B{day:03d}")
# day 35: alice from an address never seen for her
account(T0 + 35 * DAY, 1, "CONTOSO\\alice", calling="198.51.100.77", framed="172.16.5.99",
        session="A035", endpoint="198.51.100.77")

out = Path(__file__).with_name("radius-accounting.pcap")
out.write_bytes(w.pcap(frames))
print(f"{out}: {len(frames)} frames")
