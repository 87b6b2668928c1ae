"""Live capture on a Linux interface through AF_PACKET (no libpcap needed).

A kernel BPF filter keeps only DC-protocol traffic (compiled with ``tcpdump -ddd`` when tcpdump
is installed; otherwise every frame reaches user space and the decoder's port table drops what
it does not want). Frames go to the same ``PacketDecoder`` as capture files. Kernel drop counts
come from PACKET_STATISTICS and are reported as a health figure.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from dcwatch.errors import ConfigError
from dcwatch.model.activity import Activity
from dcwatch.protocols.flow import FlowContext
from dcwatch.protocols.net.decoder import PacketDecoder
from dcwatch.sources.base import SourceStats

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_ATTACH_FILTER = 26
SO_RCVBUFFORCE = 33
LINKTYPE_ETHERNET = 1

# Kerberos, kpasswd, LDAP(S), GC, SMB, NetBIOS session, EPM, DNS, CLDAP, RADIUS accounting, and
# the dynamic RPC range (the endpoint mapper tells which of those ports carry which interface).
DEFAULT_FILTER = (
    "port 88 or port 464 or port 389 or port 636 or port 3268 or port 3269 or port 445 "
    "or port 139 or port 135 or port 53 or udp port 1813 or tcp portrange 49152-65535 "
    "or (ip[6:2] & 0x1fff != 0)"
)


@dataclass(slots=True)
class CaptureStats:
    """Kernel-side counters of a live capture."""

    packets: int = 0  # frames the kernel passed to the socket
    drops: int = 0  # frames the kernel dropped (socket buffer full)


def compile_filter(expr: str, interface: str) -> bytes | None:
    """Classic BPF bytecode for an expression (via ``tcpdump -ddd``), or None without tcpdump."""
    tcpdump = shutil.which("tcpdump")
    if not tcpdump or not expr:
        return None
    r = subprocess.run([tcpdump, "-ddd", "-i", interface, expr], capture_output=True, text=True,
                       timeout=20, check=False)
    if r.returncode != 0:
        raise ConfigError(f"capture filter {expr!r}: {r.stderr.strip().splitlines()[-1]}")
    lines = r.stdout.split("\n")
    n = int(lines[0])
    insns = [tuple(int(x) for x in line.split()) for line in lines[1:1 + n]]
    return b"".join(struct.pack("HBBI", *i) for i in insns)


def open_socket(interface: str, bpf: bytes | None, rcvbuf: int = 64 << 20) -> socket.socket:
    """An AF_PACKET socket bound to ``interface`` with the filter attached."""
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:
        raise ConfigError("live capture needs root or CAP_NET_RAW (run as root, or "
                          "`setcap cap_net_raw+ep` on the Python binary)") from None
    try:
        try:  # as root, past net.core.rmem_max: absorbs bursts the decoder catches up with
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if bpf:
            buf = ctypes.create_string_buffer(bpf)
            prog = struct.pack("HL", len(bpf) // 8, ctypes.addressof(buf))
            sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, prog)
        sock.bind((interface, 0))
    except OSError as e:
        sock.close()
        raise ConfigError(f"cannot capture on {interface}: {e.strerror or e}") from None
    return sock


def kernel_stats(sock: socket.socket) -> CaptureStats:
    """Packets and drops since the last call (the kernel resets the counters on read)."""
    raw = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
    packets, drops = struct.unpack("II", raw)
    return CaptureStats(packets, drops)


def capture(interface: str, stats: SourceStats, *, bpf_expr: str = DEFAULT_FILTER,
            duration: float | None = None, max_packets: int | None = None,
            stop: Callable[[], bool] | None = None,
            on_tick: Callable[[CaptureStats], None] | None = None,
            context: FlowContext | None = None) -> Iterator[Activity]:
    """Activities from live traffic until duration/max_packets/stop() says to end."""
    bpf = compile_filter(bpf_expr, interface)
    sock = open_socket(interface, bpf)
    sock.settimeout(0.5)
    decoder = PacketDecoder(f"live:{interface}", stats, context)
    kstats = CaptureStats()
    stats.format = "live"
    start = time.monotonic()
    last_tick = start
    n = 0
    recv = sock.recv
    feed = decoder.feed_at
    try:
        while True:
            try:
                frame = recv(65536)
            except TimeoutError:
                frame = b""
            now = time.monotonic()
            if frame:
                n += 1
                feed(time.time(), LINKTYPE_ETHERNET, frame, 0, len(frame), n)
                if decoder.out:
                    yield from decoder.drain()
            if now - last_tick >= 1.0:
                last_tick = now
                k = kernel_stats(sock)
                kstats.packets += k.packets
                kstats.drops += k.drops
                stats.weirds["capture_kernel_drops"] = kstats.drops
                if on_tick:
                    on_tick(kstats)
            if (duration is not None and now - start >= duration) or \
                    (max_packets is not None and n >= max_packets) or (stop and stop()):
                break
    finally:
        k = kernel_stats(sock)
        kstats.packets += k.packets
        kstats.drops += k.drops
        stats.weirds["capture_kernel_drops"] = kstats.drops
        sock.close()
    decoder.finish()
    yield from decoder.drain()


def can_capture() -> bool:
    """Whether this process may open AF_PACKET sockets."""
    return os.geteuid() == 0


def pcap_frames(path: str) -> Iterator[bytes]:
    """Ethernet frames of a classic pcap file (for replaying onto an interface in tests)."""
    with open(path, "rb") as f:
        head = f.read(24)
        magic = struct.unpack("<I", head[:4])[0]
        order = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
        linktype = struct.unpack(order + "I", head[20:24])[0]
        if linktype != LINKTYPE_ETHERNET:
            raise ConfigError(f"{path}: replay needs an Ethernet capture (linktype {linktype})")
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            incl = struct.unpack(order + "I", rec[8:12])[0]
            data = f.read(incl)
            if len(data) < incl:
                return
            yield data


def replay(interface: str, path: str, loops: int = 1, pps: float | None = None) -> int:
    """Send a pcap's frames out of ``interface`` (AF_PACKET); returns frames sent."""
    frames = list(pcap_frames(path))
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    sock.bind((interface, 0))
    sent = 0
    gap = 1.0 / pps if pps else 0.0
    try:
        for _ in range(loops):
            for fr in frames:
                sock.send(fr)
                sent += 1
                if gap:
                    time.sleep(gap)
    finally:
        sock.close()
    return sent
