"""pcap and pcapng capture files -> activities (via ``protocols.net.PacketDecoder``).

pcap: both byte orders, microsecond and nanosecond magic (pcap-savefile(5)). pcapng
(draft-ietf-opsawg-pcapng): SHB (byte order per section), IDB (per-interface linktype,
``if_tsresol``, ``if_tsoffset``), EPB, SPB and the obsolete PB; other blocks are skipped. The file
is read in chunks, so memory does not grow with its size. ``.gz`` is the caller's business.
A file cut short keeps every activity decoded before the cut and sets ``stats.fatal``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO

from dcwatch.model.activity import Activity
from dcwatch.protocols.flow import FlowContext
from dcwatch.protocols.net.decoder import PacketDecoder
from dcwatch.protocols.net.link import LINKTYPE_ETHERNET
from dcwatch.sources.base import SourceStats

CHUNK = 4 << 20
# pcap-savefile(5) magic numbers as read little-endian.
PCAP_MAGIC = {0xA1B2C3D4: ("<", 1e-6), 0xD4C3B2A1: (">", 1e-6),
              0xA1B23C4D: ("<", 1e-9), 0x4D3CB2A1: (">", 1e-9)}
PCAPNG_SHB = 0x0A0D0D0A  # pcapng 4.1 Section Header Block
PCAPNG_BOM = 0x1A2B3C4D  # pcapng 4.1 byte-order magic
PCAPNG_IDB, PCAPNG_PB, PCAPNG_SPB, PCAPNG_EPB = 1, 2, 3, 6  # pcapng 4.2, appendix, 4.4, 4.3
IF_TSRESOL, IF_TSOFFSET = 9, 14  # pcapng 4.2 IDB options
MAX_FRAME = 1 << 18  # 256 KiB: larger captured lengths mean a corrupt record header
MAX_BLOCK = 1 << 26


class _Reader:
    """Buffered reader over a binary file object with cheap lookahead."""

    __slots__ = ("buf", "eof", "f", "pos")

    def __init__(self, f: BinaryIO, head: bytes = b"") -> None:
        self.f = f
        self.buf = head
        self.pos = 0
        self.eof = False

    def need(self, n: int) -> bool:
        """Make ``n`` bytes available at ``pos``; False when the file ends first."""
        while len(self.buf) - self.pos < n:
            if self.eof:
                return False
            left = len(self.buf) - self.pos
            # A record cut by the chunk end is completed with a small read, so the next chunk
            # is used as read (no copy of CHUNK bytes to prepend a few hundred).
            more = self.f.read(n - left if left else max(CHUNK, n))
            if not more:
                self.eof = True
                return len(self.buf) - self.pos >= n
            self.buf = self.buf[self.pos :] + more if left else more
            self.pos = 0
        return True


def read_capture(fileobj: BinaryIO, name: str, stats: SourceStats,
                 context: FlowContext | None = None) -> Iterator[Activity]:
    """Decode a pcap/pcapng stream into activities (roughly in time order)."""
    r = _Reader(fileobj)
    if not r.need(4):
        stats.fatal = "empty file: not a pcap or pcapng capture"
        return
    decoder = PacketDecoder(name, stats, context)
    magic = struct.unpack_from("<I", r.buf, 0)[0]
    if magic in PCAP_MAGIC:
        stats.format = "pcap"
        frames = _pcap(r, stats, decoder)
    elif magic == PCAPNG_SHB:
        stats.format = "pcapng"
        frames = _pcapng(r, stats, decoder)
    else:
        stats.fatal = f"not a pcap or pcapng capture (magic 0x{magic:08x})"
        return
    for batch in frames:
        stats.activities += len(batch)
        yield from batch
    decoder.finish()
    batch = decoder.drain()
    stats.activities += len(batch)
    yield from batch


def _pcap(r: _Reader, stats: SourceStats, d: PacketDecoder) -> Iterator[list[Activity]]:
    """pcap-savefile(5): 24-byte global header, 16-byte record headers."""
    if not r.need(24):
        stats.fatal = "truncated capture after frame 0 (global header cut short)"
        return iter(())
    order, scale = PCAP_MAGIC[struct.unpack_from("<I", r.buf, 0)[0]]
    linktype = struct.unpack_from(order + "I", r.buf, 20)[0] & 0xFFFF  # upper bits: FCS info
    r.pos = 24
    return _pcap_records(r, stats, d, order, scale, linktype)


# The record header and, in the same read, what decides whether an Ethernet frame is TCP over
# a 20-byte IPv4 header for a port no analyzer serves: ethertype (frame offset 12), version/IHL,
# total length (two bytes: the file's byte order need not be the network's), flags/fragment
# offset, protocol, ports (RFC 791 3.1, RFC 9293 3.1). 16 + 38 bytes.
_PCAP_ETH_TCP = "III4x12xHBxBB2xHxB10xHH"
_ETH_READ = 16 + 38


def _pcap_records(r: _Reader, stats: SourceStats, d: PacketDecoder, order: str, scale: float,
                  linktype: int) -> Iterator[list[Activity]]:
    """pcap records, each fed to the decoder; on Ethernet, frames of TCP for ports no analyzer
    serves (most of a DC's traffic is not for the DC's services) are dropped here, with one
    unpack and no call.

    Exactly the frames ``feed_at`` would drop after its own header read: whole record
    in the buffer, 20-byte IPv4 header without fragmentation, total length >= 40, TCP, neither
    port served (learned RPC ports included). Everything else is fed as before."""
    ethernet = linktype == LINKTYPE_ETHERNET
    hdr = struct.Struct(order + _PCAP_ETH_TCP).unpack_from
    rec = struct.Struct(order + "III4x").unpack_from  # record header alone (short tail)
    # the 16-bit fields as read in the file's byte order
    swapped = order == "<"
    et_ipv4 = 0x0008 if swapped else 0x0800
    frag_mask = 0xFF3F if swapped else 0x3FFF  # RFC 791: MF flag and fragment offset
    served = d.served_tcp_ports(swapped)
    # learned RPC ports only grow (a dict of (address, port)): its size says when to re-ask
    learned_map = d.context.rpc_ports if d.rpc_cls is not None else {}
    learned = len(learned_map)
    feed = d.feed_at
    out = d.out
    n = dropped = 0
    buf, pos = r.buf, r.pos  # locals in the loop; ``r`` is synced only around need()
    size = len(buf)
    next_sweep = d.next_sweep  # a local: only calls into ``d`` change it
    try:
        while True:
            if ethernet and size - pos >= _ETH_READ:
                sec, frac, incl, et, vihl, thi, tlo, fo, proto, sport, dport = hdr(buf, pos)
                end = pos + 16 + incl
                if (proto == 6 and et == et_ipv4 and vihl == 0x45 and 54 <= incl <= MAX_FRAME
                        and end <= size and sport not in served and dport not in served
                        and not fo & frag_mask and (thi or tlo >= 40)):
                    pos = end
                    n += 1
                    dropped += 1
                    ts = sec + frac * scale
                    if ts >= next_sweep:
                        d.dropped(ts, n, dropped)
                        dropped = 0
                        next_sweep = d.next_sweep
                        if out:
                            yield d.drain()
                        if len(learned_map) != learned:
                            served = d.served_tcp_ports(swapped)
                            learned = len(learned_map)
                    continue
            elif size - pos < 16:
                r.pos = pos
                if not r.need(16):
                    if len(r.buf) - r.pos:
                        stats.fatal = f"truncated capture after frame {n}"
                    return
                buf, pos = r.buf, r.pos
                size = len(buf)
                continue  # with a fresh chunk, the header read above may now fit
            else:
                sec, frac, incl = rec(buf, pos)
            if incl > MAX_FRAME:
                stats.fatal = f"corrupt record header after frame {n} (captured length {incl})"
                return
            end = pos + 16 + incl
            if end > size:
                r.pos = pos
                if not r.need(16 + incl):
                    stats.fatal = f"truncated capture after frame {n}"
                    return
                buf, pos = r.buf, r.pos
                size = len(buf)
                end = pos + 16 + incl
            start = pos + 16
            pos = end
            n += 1
            if dropped:
                stats.records += dropped
                dropped = 0
            feed(sec + frac * scale, linktype, buf, start, end, n)
            next_sweep = d.next_sweep
            if out:
                yield d.drain()
            if len(learned_map) != learned:
                served = d.served_tcp_ports(swapped)
                learned = len(learned_map)
    finally:
        stats.records += dropped


def _pcapng(r: _Reader, stats: SourceStats, d: PacketDecoder) -> Iterator[list[Activity]]:
    """pcapng blocks: type, total length, body, total length (all in the section's order)."""
    order = "<"
    ifaces: list[tuple[int, float, float]] = []  # (linktype, seconds per tick, offset seconds)
    n = 0
    while True:
        if not r.need(12):
            if len(r.buf) - r.pos:
                stats.fatal = f"truncated capture after frame {n}"
            return
        buf, pos = r.buf, r.pos
        btype = struct.unpack_from(order + "I", buf, pos)[0]
        if btype == PCAPNG_SHB or struct.unpack_from("<I", buf, pos)[0] == PCAPNG_SHB:
            bom = struct.unpack_from("<I", buf, pos + 8)[0]
            if bom == PCAPNG_BOM:
                order = "<"
            elif bom == 0x4D3C2B1A:
                order = ">"
            else:
                stats.fatal = f"corrupt section header after frame {n}"
                return
            btype = PCAPNG_SHB
            ifaces = []
        blen = struct.unpack_from(order + "I", buf, pos + 4)[0]
        if blen < 12 or blen % 4 or blen > MAX_BLOCK:
            stats.fatal = f"corrupt block header after frame {n} (length {blen})"
            return
        if not r.need(blen):
            stats.fatal = f"truncated capture after frame {n}"
            return
        buf, pos = r.buf, r.pos
        r.pos = pos + blen
        body, bend = pos + 8, pos + blen - 4
        if btype == PCAPNG_IDB:
            ifaces.append(_idb(buf, body, bend, order))
            continue
        if btype in (PCAPNG_EPB, PCAPNG_PB):
            if bend - body < 20:
                stats.skip(f"{d.source} block after frame {n}", "packet block too short")
                continue
            if btype == PCAPNG_EPB:
                iface, hi, lo, cap = struct.unpack_from(order + "IIII", buf, body)
            else:
                iface, _drops, hi, lo, cap = struct.unpack_from(order + "HHIII", buf, body)
            data = body + 20
        elif btype == PCAPNG_SPB:
            if bend - body < 4 or not ifaces:
                stats.skip(f"{d.source} block after frame {n}", "simple packet block unusable")
                continue
            iface, hi, lo = 0, 0, 0
            cap = min(struct.unpack_from(order + "I", buf, body)[0], bend - body - 4)
            data = body + 4
        else:
            continue  # NRB, ISB, DSB, custom blocks: nothing to decode
        n += 1
        if iface >= len(ifaces) or data + cap > bend:
            stats.records += 1
            stats.skip(f"{d.source} frame {n}", "packet block names an unknown interface "
                       "or overruns its block")
            continue
        linktype, tick, offset = ifaces[iface]
        d.feed_at(((hi << 32) | lo) * tick + offset, linktype, buf, data, data + cap, n)
        if d.out:
            yield d.drain()


def _idb(buf: bytes, s: int, e: int, order: str) -> tuple[int, float, float]:
    """Interface Description Block: linktype, timestamp resolution and offset."""
    linktype = struct.unpack_from(order + "H", buf, s)[0]
    tick, offset = 1e-6, 0.0
    p = s + 8
    while p + 4 <= e:
        code, olen = struct.unpack_from(order + "HH", buf, p)
        if code == 0:
            break
        v = p + 4
        if v + olen > e:
            break
        if code == IF_TSRESOL and olen >= 1:
            res = buf[v]
            tick = 2.0 ** -(res & 0x7F) if res & 0x80 else 10.0 ** -res
        elif code == IF_TSOFFSET and olen >= 8:
            offset = float(struct.unpack_from(order + "q", buf, v)[0])
        p = v + ((olen + 3) & ~3)
    return linktype, tick, offset
