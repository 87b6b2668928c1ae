"""Live capture on a Linux interface through AF_PACKET (no libpcap needed).

A kernel BPF filter keeps only DC-protocol traffic (compiled with ``tcpdump -ddd`` when tcpdump
is installed; otherwise every frame reaches user space and the decoder's port table drops what
it does not want). Frames go to the same ``PacketDecoder`` as capture files. Kernel drop counts
come from PACKET_STATISTICS and are reported as a health figure.

Frames are read from a PACKET_MMAP receive ring (TPACKET_V3, block-based: one wake-up per block
of many frames, no system call or copy per frame, kernel receive timestamps) shared with the
kernel through ``mmap``; when the ring cannot be set up, one ``recv()`` per frame instead.
"""

from __future__ import annotations

import ctypes
import mmap
import os
import select
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
PACKET_RX_RING = 5
PACKET_VERSION = 10
TPACKET_V3 = 2
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
LINKTYPE_ETHERNET = 1

# The receive ring: blocks of RING_BLOCK bytes, as many as the socket buffer size asked for
# (64 MiB: like the recv() path's buffer, but without its per-skb overhead, ~190k frames of the
# usual DC sizes instead of ~60k). The kernel hands a block to user space when it is full or
# RING_TIMEOUT_MS after it was opened: that bounds the latency added at low rates, and (times the
# block count) the seconds of backlog a stalled reader survives at low rates.
RING_BLOCK = 256 << 10
RING_FRAME = 2048  # only for the kernel's frame count; TPACKET_V3 packs frames of any size
RING_TIMEOUT_MS = 32

# struct tpacket_block_desc (linux/if_packet.h): block_status, num_pkts, offset_to_first_pkt
_BLOCK = struct.Struct("=8xIII").unpack_from
# struct tpacket3_hdr: tp_next_offset, tp_sec, tp_nsec, tp_snaplen, (tp_len, tp_status), tp_mac
_FRAME = struct.Struct("=IIII8xH").unpack_from

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


def open_socket(interface: str, bpf: bytes | None, rcvbuf: int = 64 << 20,
                ring: bool = False) -> tuple[socket.socket, mmap.mmap | None]:
    """An AF_PACKET socket bound to ``interface`` with the filter attached, and its receive
    ring when ``ring`` is asked for and the kernel sets one up (None otherwise: use recv())."""
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:
        raise ConfigError("live capture needs root or CAP_NET_RAW (run as root, or "
                          "`setcap cap_net_raw+ep` on the Python binary)") from None
    rx = None
    try:
        try:  # as root, past net.core.rmem_max: absorbs bursts the decoder catches up with
            sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
        except PermissionError:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if bpf:
            buf = ctypes.create_string_buffer(bpf)
            prog = struct.pack("HL", len(bpf) // 8, ctypes.addressof(buf))
            sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, prog)
        if ring:  # before bind: no frame waits in the socket queue, outside the ring
            try:
                rx = rx_ring(sock, blocks=max(1, rcvbuf // RING_BLOCK))
            except (OSError, ValueError):  # no PACKET_MMAP here: a plain socket and recv()
                sock.close()
                return open_socket(interface, bpf, rcvbuf, ring=False)
        sock.bind((interface, 0))
    except OSError as e:
        if rx is not None:
            rx.close()
        sock.close()
        raise ConfigError(f"cannot capture on {interface}: {e.strerror or e}") from None
    return sock, rx


def rx_ring(sock: socket.socket, block: int = RING_BLOCK, blocks: int = 256,
            timeout_ms: int = RING_TIMEOUT_MS) -> mmap.mmap:
    """Set up and map a TPACKET_V3 receive ring on ``sock`` (OSError if the kernel refuses)."""
    sock.setsockopt(SOL_PACKET, PACKET_VERSION, TPACKET_V3)
    # struct tpacket_req3: block size and count, frame size and count, block retire timeout
    # (ms), private area size, feature flags
    req = struct.pack("=7I", block, blocks, RING_FRAME, block // RING_FRAME * blocks,
                      timeout_ms, 0, 0)
    sock.setsockopt(SOL_PACKET, PACKET_RX_RING, req)
    return mmap.mmap(sock.fileno(), block * blocks, mmap.MAP_SHARED,
                     mmap.PROT_READ | mmap.PROT_WRITE)


def kernel_stats(sock: socket.socket) -> CaptureStats:
    """Packets and drops since the last call (the kernel resets the counters on read)."""
    raw = sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8)
    packets, drops = struct.unpack("II", raw)
    return CaptureStats(packets, drops)


def capture(interface: str, stats: SourceStats, *, bpf_expr: str = DEFAULT_FILTER,
            duration: float | None = None, max_packets: int | None = None,
            stop: Callable[[], bool] | None = None,
            on_tick: Callable[[CaptureStats], None] | None = None,
            context: FlowContext | None = None, ring: bool = True) -> Iterator[Activity]:
    """Activities from live traffic until duration/max_packets/stop() says to end.

    ``ring``: read through a PACKET_MMAP ring when the kernel offers one (else recv())."""
    bpf = compile_filter(bpf_expr, interface)
    sock, rx = open_socket(interface, bpf, ring=ring)
    decoder = PacketDecoder(f"live:{interface}", stats, context)
    kstats = CaptureStats()
    stats.format = "live"

    def tick() -> None:
        k = kernel_stats(sock)
        kstats.packets += k.packets
        kstats.drops += k.drops
        stats.weirds["capture_kernel_drops"] = kstats.drops

    try:
        if rx is None:
            frames = _recv_frames(sock, decoder, tick, duration, max_packets, stop, on_tick,
                                  kstats)
        else:
            frames = _ring_frames(sock, rx, decoder, tick, duration, max_packets, stop, on_tick,
                                  kstats)
        yield from frames
    finally:
        tick()
        if rx is not None:
            rx.close()
        sock.close()
    decoder.finish()
    yield from decoder.drain()


def _recv_frames(sock: socket.socket, decoder: PacketDecoder, tick: Callable[[], None],
                 duration: float | None, max_packets: int | None,
                 stop: Callable[[], bool] | None,
                 on_tick: Callable[[CaptureStats], None] | None,
                 kstats: CaptureStats) -> Iterator[Activity]:
    """The capture loop without a ring: one recv() per frame."""
    sock.settimeout(0.5)
    start = time.monotonic()
    last_tick = start
    n = 0
    recv = sock.recv
    feed = decoder.feed_at
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
            tick()
            if on_tick:
                on_tick(kstats)
        if (duration is not None and now - start >= duration) or \
                (max_packets is not None and n >= max_packets) or (stop and stop()):
            break


def _ring_frames(sock: socket.socket, rx: mmap.mmap, decoder: PacketDecoder,
                 tick: Callable[[], None], duration: float | None, max_packets: int | None,
                 stop: Callable[[], bool] | None,
                 on_tick: Callable[[CaptureStats], None] | None,
                 kstats: CaptureStats, block: int = RING_BLOCK,
                 timeout_ms: int = RING_TIMEOUT_MS) -> Iterator[Activity]:
    """The capture loop on a TPACKET_V3 ring: a block of frames per wake-up, decoded in place
    (the decoder copies out only what it keeps), activities handed on once per block.

    At the end of ``duration`` (or on ``stop()``) the block the kernel is still filling is
    waited for (its retire timeout, twice at most): frames that arrived before the end are
    decoded, as the recv() loop would have read them."""
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN | select.POLLERR)
    poll = poller.poll
    monotonic = time.monotonic
    start = monotonic()
    now = last_tick = start
    end_at: float | None = None  # when the final wait for the kernel's current block ends
    n = 0
    limit = max_packets if max_packets is not None else -1
    feed = decoder.feed_at
    frame_hdr = _FRAME
    block_hdr = _BLOCK
    blocks = len(rx) // block
    i = 0
    while True:
        base = i * block
        status, count, pos = block_hdr(rx, base)
        if status & TP_STATUS_USER:
            pos += base
            for _ in range(count):
                nxt, sec, nsec, snap, mac = frame_hdr(rx, pos)
                n += 1
                at = pos + mac
                feed(sec + nsec * 1e-9, LINKTYPE_ETHERNET, rx, at, at + snap, n)  # type: ignore[arg-type]  # the ring reads like bytes
                if n == limit:
                    break
                pos += nxt
            rx[base + 8 : base + 12] = b"\0\0\0\0"  # TP_STATUS_KERNEL: the block goes back
            i = i + 1 if i + 1 < blocks else 0
            if decoder.out:
                yield from decoder.drain()
        elif end_at is None or now < end_at:
            # until the kernel hands the block over (full, or its timeout)
            ev = poll(100 if end_at is None else max(1, int((end_at - now) * 1000)))
            if ev and ev[0][1] & select.POLLERR:  # e.g. ENETDOWN: raised, as recv() would
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, os.strerror(err))
        else:
            break
        now = monotonic()
        if now - last_tick >= 1.0:
            last_tick = now
            tick()
            if on_tick:
                on_tick(kstats)
        if n == limit:
            break
        if end_at is None:
            if (duration is not None and now - start >= duration) or (stop and stop()):
                end_at = now + 2 * timeout_ms / 1000
        elif now >= end_at:
            break


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
