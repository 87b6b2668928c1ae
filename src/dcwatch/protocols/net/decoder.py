"""Per-packet decoding shared by capture files and live sniffing: link -> IP -> TCP/UDP -> analyzer.

``PacketDecoder.feed(ts, linktype, frame, frame_no)`` never raises: malformed packets are counted
in ``SourceStats.skipped`` (first reason kept), oddities in ``SourceStats.weirds``. Traffic that
no DC-protocol analyzer wants is dropped after a port lookup, before any object is created.
Activities accumulate in ``out`` (or go to the ``emit`` callback given).
"""

from __future__ import annotations

import math
import socket
import struct
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from dcwatch.errors import InputError, Malformed, Truncated
from dcwatch.model.activity import Activity
from dcwatch.protocols.flow import FlowContext, FlowInfo
from dcwatch.protocols.net import dispatch
from dcwatch.protocols.net.ip import PROTO_TCP, PROTO_UDP, Reassembler, ipv6_payload
from dcwatch.protocols.net.link import ETH_IPV4, ETH_IPV6, LINKTYPE_ETHERNET, ip_start
from dcwatch.protocols.net.tcp import (
    ACK,
    FIN,
    MAX_DIRECTION_BYTES,
    RST,
    SEQ_MASK,
    SYN,
    TcpConnection,
)
from dcwatch.sources.base import SourceStats

TCP_IDLE = 300.0  # seconds without a packet before a TCP flow is closed
UDP_IDLE = 60.0
SWEEP_EVERY = 10.0  # capture seconds between idle sweeps
MAX_TCP_FLOWS = 100_000  # oldest flows are closed first beyond this (bounded memory)
MAX_UDP_FLOWS = 100_000
ADDRESS_PAIRS = 16_384  # address pairs whose text form is remembered (bounded memory)
RECENT_UIDS = 65_536  # uids remembered to tell apart activities that share one (bounded memory)


_IPV4 = struct.Struct(">B1xH2xHx B").unpack_from  # RFC 791 3.1: vihl, total, flags/frag, proto
_TCP = struct.Struct(">HHI4xBB").unpack_from  # RFC 9293 3.1: ports, seq, data offset, flags
_PORTS = struct.Struct(">HH").unpack_from
_UDP = struct.Struct(">HHH").unpack_from  # RFC 768: ports, length
# Ethernet type, then _IPV4 and _TCP for a 20-byte IPv4 header, in one read (frames >= 54 bytes)
_ETH_IPV4_TCP = struct.Struct(">HB1xH2xHxB10xHHI4xBB").unpack_from


def _ntop(raw: bytes) -> str:
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)


class PacketDecoder:
    """Decode frames of one capture (file or live interface) into activities."""

    def __init__(self, source: str, stats: SourceStats, context: FlowContext | None = None,
                 emit: Callable[[Activity], None] | None = None) -> None:
        self.source = source
        self.stats = stats
        self.context = context if context is not None else FlowContext()
        self._weirds_at_start = dict(self.context.weirds)
        self.out: list[Activity] = []
        self._sink = emit or self.out.append
        self._recent_uids: dict[str, int] = {}
        self.tcp_ports, self.rpc_cls = dispatch.tcp_table()
        self.udp_ports = dispatch.udp_table()
        self.tcp: dict[tuple[bytes, int, int], tuple[TcpConnection, bool]] = {}
        self.udp: dict[tuple[bytes, int, int], tuple[list[Any], bool]] = {}
        self.frag = Reassembler()
        self._address_text: dict[bytes, tuple[str, str, bytes]] = {}
        self.counters: dict[str, int] = {}
        self.next_sweep = 0.0
        # Lower bounds of the ``last`` times of the TCP and UDP flows (every flow's ``last`` is
        # the time of a frame fed since the table's last scan, or a time the scan saw): a sweep
        # scans a table only when one of its flows may be idle (_sweep).
        self._fed_min = math.inf  # earliest frame time fed since the last sweep
        self._tcp_oldest = self._udp_oldest = math.inf
        self._rpc_n = 0
        self._rpc_ports: frozenset[int] = frozenset()
        self._dt_key = -1.0
        self._dt = datetime.fromtimestamp(0, UTC)

    # -- packet boundary ---------------------------------------------------------------------
    def feed(self, ts: float, linktype: int, frame: bytes, frame_no: int) -> None:
        """Decode one frame. Never raises: problems are counted in the stats."""
        self.feed_at(ts, linktype, frame, 0, len(frame), frame_no)

    def feed_at(self, ts: float, linktype: int, buf: bytes, start: int, stop: int,
                frame_no: int) -> None:
        """``feed`` of the frame ``buf[start:stop]``, read in place (capture files: no copy of
        frames that are dropped, and TCP/UDP payloads are sliced straight from ``buf``)."""
        self.stats.records += 1
        if ts < self._fed_min:  # before decoding: flows may take ``ts`` even if it then fails
            self._fed_min = ts
        try:
            n = stop - start
            if linktype != LINKTYPE_ETHERNET or n < 34:
                et = -1
            elif n >= 54:  # the TCP fields are read here too, used only if they are TCP's
                et, vihl, total, fo, proto, sport, dport, seq, doff, flags = \
                    _ETH_IPV4_TCP(buf, start + 12)
            else:
                et = buf[start + 12] << 8 | buf[start + 13]
                vihl, total, fo, proto = _IPV4(buf, start + 14)
            if et == ETH_IPV4:
                if vihl != 0x45 or fo & 0x3FFF or total < 40:
                    self._ipv4(ts, buf[start:stop], 14, frame_no)  # options, fragments, ...
                elif proto == PROTO_TCP:
                    # The common case inline (what _ipv4 and _tcp's port filter would decide):
                    # a 20-byte IPv4 header and a whole TCP header, most often for a port that
                    # no DC analyzer serves, dropped here without a copy or another call.
                    end = start + 14 + total if 14 + total < n else stop
                    if end - start < 54:
                        self._ipv4(ts, buf[start:stop], 14, frame_no)
                    else:  # (so n >= 54: the TCP header fields were read above)
                        ports = self.tcp_ports
                        if dport in ports or sport in ports:
                            want = True
                        elif self.rpc_cls is not None and (rp := self.context.rpc_ports):
                            # ports learned from the endpoint mapper (set rebuilt when it grew)
                            dyn = self._rpc_ports if len(rp) == self._rpc_n else \
                                self._dynamic_ports()
                            want = dport in dyn or sport in dyn
                        else:
                            want = False
                        if want:
                            # _tcp_fast inline for a whole segment of a known flow without
                            # SYN/FIN/RST (almost every one): see there
                            pl = start + 34 + ((doff >> 4) << 2)
                            entry = None if 14 + total > n or flags & (SYN | FIN | RST) or \
                                pl > end or pl - start < 54 else \
                                self.tcp.get((buf[start + 26 : start + 34], sport, dport))
                            if entry is None:
                                self._tcp_fast(ts, buf, start, end, frame_no, n, total, seq,
                                               doff, flags, sport, dport)
                            else:
                                conn, from_client = entry
                                h = conn.c if from_client else conn.s
                                if pl == end and h.next_seq is not None and \
                                        conn.error is None and not (conn.c.fin and conn.s.fin):
                                    conn.info.frame = frame_no  # a pure ACK: as _tcp_fast
                                    conn.last = ts
                                elif pl == end or h.next_seq != seq or h.ooo or h.capped or \
                                        conn.error is not None or \
                                        h.delivered + end - pl > MAX_DIRECTION_BYTES:
                                    self._tcp_fast(ts, buf, start, end, frame_no, n, total, seq,
                                                   doff, flags, sport, dport)
                                else:
                                    # TcpConnection.segment's in-order delivery, inline
                                    info = conn.info
                                    info.frame = frame_no
                                    conn.last = ts
                                    info.ts = self._when(ts)
                                    h.next_seq = (seq + end - pl) & SEQ_MASK
                                    h.delivered += end - pl
                                    conn.analyzer.data(from_client, buf[pl:end])
                elif proto == PROTO_UDP:
                    end = start + 14 + total if 14 + total < n else stop
                    self._udp(ts, buf, start + 34, end, frame_no, buf, start + 26, 4)
            else:
                frame = buf[start:stop] if start or stop != len(buf) else buf
                et, off = ip_start(linktype, frame)
                if et == ETH_IPV4:
                    self._ipv4(ts, frame, off, frame_no)
                elif et == ETH_IPV6:
                    self._ipv6(ts, frame, off, frame_no)
            if ts >= self.next_sweep:
                self._sweep(ts)
        except InputError as e:
            self.stats.skip(f"{self.source} frame {frame_no}", str(e))
        except Exception as e:  # noqa: BLE001 - last resort at the packet boundary, counted
            self.stats.skip(f"{self.source} frame {frame_no}", f"{type(e).__name__}: {e}")
            self._count(f"exception_{type(e).__name__}")

    # -- frames a capture reader drops itself ------------------------------------------------
    def served_tcp_ports(self, swapped: bool = False) -> frozenset[int]:
        """Every TCP port some analyzer serves now: the static table and, when DCE/RPC is
        present (``rpc_cls``), the ports learned from the endpoint mapper so far (ask again
        when ``context.rpc_ports``, which only grows, has grown).

        A capture reader that unpacks the record and Ethernet/IPv4/TCP headers in one read can
        then drop most frames (TCP for no DC service, the bulk of a capture) without calling
        ``feed_at``, which would decide the same after its own unpack (see ``dropped``).
        ``swapped``: each port with its two bytes exchanged, as a little-endian read gives it."""
        ports = set(self.tcp_ports)
        if self.rpc_cls is not None:
            ports.update(p for _, p in self.context.rpc_ports)
        if swapped:
            return frozenset(((p & 0xFF) << 8) | (p >> 8) for p in ports)
        return frozenset(ports)

    def dropped(self, ts: float, frame_no: int, count: int = 1) -> None:
        """Account ``count`` frames the caller dropped (a served_tcp_ports miss); the last of
        them at ``ts``. What ``feed_at`` does for such a frame: count it, and sweep idle flows
        when it is time (the caller checks ``ts >= next_sweep`` itself, as this is rare)."""
        self.stats.records += count
        if ts >= self.next_sweep:
            try:
                self._sweep(ts)
            except InputError as e:
                self.stats.skip(f"{self.source} frame {frame_no}", str(e))
            except Exception as e:  # noqa: BLE001 - as feed_at: counted, never raised
                self.stats.skip(f"{self.source} frame {frame_no}", f"{type(e).__name__}: {e}")
                self._count(f"exception_{type(e).__name__}")

    def finish(self) -> None:
        """End of input: close every flow (flushing pending exchanges) and fold counters."""
        for table in (self.tcp, self.udp):
            seen: set[int] = set()
            for conn, _ in list(table.values()):
                if id(conn) not in seen:
                    seen.add(id(conn))
                    self._close(conn)
            table.clear()
        if self.frag.pending:
            self._count("ip_fragments_incomplete", len(self.frag.pending))
            self.frag.pending.clear()
        w = self.stats.weirds
        for name, n in self.counters.items():
            w[name] = w.get(name, 0) + n
        self.counters.clear()
        for name, n in self.context.weirds.items():
            d = n - self._weirds_at_start.get(name, 0)
            if d:
                w[name] = w.get(name, 0) + d
        self._weirds_at_start = dict(self.context.weirds)

    def drain(self) -> list[Activity]:
        """Activities decoded since the last call."""
        out = self.out[:]
        self.out.clear()  # in place: analyzers hold ``self.out.append`` as their emit
        return out

    def _count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def emit(self, act: Activity) -> None:
        """Hand an analyzer's activity on, with a uid no other activity of this capture has.

        The uid hashes kind, time, frame, addresses, actor/target and ``fields["sub"]``, so
        two records of one kind from one frame (compounded SMB2 CREATEs, pipelined LDAP or
        RPC requests in one segment, a bind naming two interfaces) would share it and the
        store would keep only the first. A repeat gets ``sub`` suffixed ``#n`` (n-th repeat in
        emission order, which is deterministic: re-reading the capture gives the same uids)."""
        uid = act.uid
        seen = self._recent_uids.get(uid)
        if seen is None:
            if len(self._recent_uids) >= RECENT_UIDS:
                del self._recent_uids[next(iter(self._recent_uids))]
            self._recent_uids[uid] = 0
        else:
            self._recent_uids[uid] = seen + 1
            act.fields["sub"] = f"{act.fields.get('sub', '')}#{seen + 1}"
            act.uid = act.compute_uid()
            self._count("activity_uid_disambiguated")
        self._sink(act)

    def _tcp_fast(self, ts: float, buf: bytes, start: int, end: int, frame_no: int, n: int,
                  total: int, seq: int, doff: int, flags: int, sport: int, dport: int) -> None:
        """``_tcp`` of a frame with a 20-byte IPv4 header, its TCP header fields unpacked.

        A whole segment of a known flow without SYN/FIN/RST (almost every one) is handed to
        its connection here, as ``_tcp`` and ``TcpConnection.segment`` would, without their
        checks; a pure ACK only picks up the sequence number, without a call at all."""
        cut = 14 + total - n if 14 + total > n else 0  # snap length
        entry = None if cut or flags & (SYN | FIN | RST) else \
            self.tcp.get((buf[start + 26 : start + 34], sport, dport))
        pl = start + 34 + ((doff >> 4) << 2)
        if entry is None or pl - start < 54 or pl > end:
            self._tcp(ts, buf, start + 34, end, frame_no, buf, start + 26, 4, cut)
            return
        conn, from_client = entry
        conn.info.frame = frame_no
        conn.last = ts
        if pl == end:  # pure ACK (or another control-only segment without SYN/FIN/RST)
            h = conn.c if from_client else conn.s
            if h.next_seq is None:
                h.next_seq = seq
            if not (conn.c.fin and conn.s.fin) and conn.error is None:
                return
            payload = b""
        else:
            conn.info.ts = self._when(ts)
            payload = buf[pl:end]
        try:
            conn.segment(from_client, seq, flags, payload, 0)
        finally:
            if conn.closed:
                self._forget_tcp(conn)

    def _when(self, ts: float) -> datetime:
        if ts != self._dt_key:
            self._dt_key = ts
            self._dt = datetime.fromtimestamp(ts, UTC)
        return self._dt

    # -- network layer -----------------------------------------------------------------------
    def _ipv4(self, ts: float, frame: bytes, off: int, frame_no: int) -> None:
        n = len(frame)
        if off + 20 > n:
            raise Truncated(f"ipv4: header needs 20 bytes, {n - off} captured")
        vihl, total, fo, proto = _IPV4(frame, off)
        ihl = (vihl & 0x0F) << 2
        if vihl >> 4 != 4 or ihl < 20:
            raise Malformed(f"ipv4: version/IHL byte 0x{vihl:02x} is not valid")
        if proto != PROTO_TCP and proto != PROTO_UDP:
            return
        cut = 0
        if total == 0:  # TSO on the capturing host: the NIC fills the length in (Wireshark too)
            self._count("ipv4_total_length_zero")
            end = n
        elif total < ihl:
            raise Malformed(f"ipv4: total length {total} shorter than the {ihl}-byte header")
        else:
            end = off + total
            if end > n:
                cut = end - n  # cut by the snap length: reassembly reports it as a gap
                end = n
        l4 = off + ihl
        if fo & 0x3FFF:  # RFC 791: MF flag or a fragment offset
            key = (frame[off + 12 : off + 20], frame[off + 4] << 8 | frame[off + 5], proto)
            data = self.frag.add(key, ts, (fo & 0x1FFF) << 3, bool(fo & 0x2000), frame[l4:end])
            if data is None:
                return
            self._count("ip_datagrams_reassembled")
            if proto == PROTO_TCP:
                self._tcp(ts, data, 0, len(data), frame_no, frame, off + 12, 4)
            else:
                self._udp(ts, data, 0, len(data), frame_no, frame, off + 12, 4)
            return
        if proto == PROTO_TCP:
            if l4 + 20 <= end:  # most TCP is not for a DC service: drop it before _tcp()
                sport, dport = _PORTS(frame, l4)
                ports = self.tcp_ports
                if dport not in ports and sport not in ports:
                    if self.rpc_cls is None or not self.context.rpc_ports:
                        return
                    dyn = self._dynamic_ports()
                    if dport not in dyn and sport not in dyn:
                        return
            self._tcp(ts, frame, l4, end, frame_no, frame, off + 12, 4, cut)
        else:
            self._udp(ts, frame, l4, end, frame_no, frame, off + 12, 4)

    def _ipv6(self, ts: float, frame: bytes, off: int, frame_no: int) -> None:
        n = len(frame)
        if off + 40 > n:
            raise Truncated(f"ipv6: header needs 40 bytes, {n - off} captured")
        if frame[off] >> 4 != 6:
            raise Malformed(f"ipv6: version nibble {frame[off] >> 4}")
        claimed = off + 40 + (frame[off + 4] << 8 | frame[off + 5])
        end = min(claimed, n)
        proto, l4, frag = ipv6_payload(frame, off, end)
        if proto != PROTO_TCP and proto != PROTO_UDP:
            return
        if frag is not None:  # RFC 8200 4.5: unfragmentable part is ours, payload reassembled
            ident, offset, more = frag
            if offset or more:
                data = self.frag.add((frame[off + 8 : off + 40], ident, proto), ts, offset,
                                     more, frame[l4:end])
                if data is None:
                    return
                self._count("ip_datagrams_reassembled")
                frame_l4, l4, end = data, 0, len(data)
                fn = self._tcp if proto == PROTO_TCP else self._udp
                fn(ts, frame_l4, l4, end, frame_no, frame, off + 8, 16)
                return
        if proto == PROTO_TCP:
            self._tcp(ts, frame, l4, end, frame_no, frame, off + 8, 16, claimed - end)
        else:
            self._udp(ts, frame, l4, end, frame_no, frame, off + 8, 16)

    def _dynamic_ports(self) -> frozenset[int]:
        rp = self.context.rpc_ports
        if len(rp) != self._rpc_n:
            self._rpc_n = len(rp)
            self._rpc_ports = frozenset(p for _, p in rp)
        return self._rpc_ports

    # -- transport layer ---------------------------------------------------------------------
    def _tcp(self, ts: float, b: bytes, l4: int, end: int, frame_no: int, hdr: bytes,
             aoff: int, alen: int, cut: int = 0) -> None:
        """One TCP segment; ``cut`` payload bytes were not captured (snap length)."""
        if l4 + 20 > end:
            raise Truncated(f"tcp: header needs 20 bytes, {end - l4} left")
        sport, dport, seq, doff, flags = _TCP(b, l4)
        ports = self.tcp_ports
        if dport in ports:
            to_server = True
        elif sport in ports:
            to_server = False
        else:
            dyn = self._dynamic_ports() if self.rpc_cls is not None else ()
            if not dyn or (dport not in dyn and sport not in dyn):
                return
            to_server = dport in dyn
        addrs = hdr[aoff : aoff + 2 * alen]
        key = (addrs, sport, dport)
        entry = self.tcp.get(key)
        doff = (doff >> 4) << 2
        if doff < 20 or l4 + doff > end:
            raise Malformed(f"tcp: data offset {doff} is not valid")
        payload = b[l4 + doff : end]
        if entry is not None and flags & SYN and not flags & ACK and entry[0].c.delivered:
            self._close(entry[0])  # port reuse: a new connection on the same 4-tuple
            entry = None
        if entry is None:
            if flags & RST or not (payload or flags & (SYN | FIN)):
                return
            from_client = not flags & ACK if flags & SYN else to_server
            conn = self._new_tcp(ts, addrs, alen, sport, dport, from_client)
            if conn is None:
                return
            rev = (addrs[alen:] + addrs[:alen], dport, sport)
            self.tcp[key] = (conn, from_client)
            self.tcp[rev] = (conn, not from_client)
            conn.keys = (key, rev)
        else:
            conn, from_client = entry
        info = conn.info
        info.frame = frame_no
        if payload or cut or flags & (FIN | RST):  # pure ACKs reach no analyzer: no datetime
            info.ts = self._when(ts)
        conn.last = ts
        try:
            conn.segment(from_client, seq, flags, payload, cut)
        finally:
            if conn.closed:
                self._forget_tcp(conn)

    def _new_tcp(self, ts: float, addrs: bytes, alen: int, sport: int, dport: int,
                 from_client: bool) -> TcpConnection | None:
        src, dst, _ = self._addresses(addrs, alen)
        if from_client:
            cip, cport, sip, sport_ = src, sport, dst, dport
        else:
            cip, cport, sip, sport_ = dst, dport, src, sport
        cls = self.tcp_ports.get(sport_)
        if cls is None and self.rpc_cls is not None and (sip, sport_) in self.context.rpc_ports:
            cls = self.rpc_cls
        if cls is None:  # the port is a server port only on the other side, or not this host's
            return None
        if len(self.tcp) >= 2 * MAX_TCP_FLOWS:
            self._count("tcp_flows_evicted")
            self._close(next(iter(self.tcp.values()))[0])
        info = FlowInfo("tcp", cip, cport, sip, sport_, self.source, 0, None, self.context)
        return TcpConnection(info, cls(info, self.emit), ts, self.counters)

    def _addresses(self, addrs: bytes, alen: int) -> tuple[str, str, bytes]:
        """Source and destination of a new flow as text, and the address pair reversed (the
        flow's other key), remembered per pair: a DC's clients open flow after flow (a DNS
        query per source port) between the same hosts."""
        known = self._address_text.get(addrs)
        if known is None:
            if len(self._address_text) >= ADDRESS_PAIRS:
                self._address_text.clear()
            known = self._address_text[addrs] = (_ntop(addrs[:alen]), _ntop(addrs[alen:]),
                                                 addrs[alen:] + addrs[:alen])
        return known

    def _forget_tcp(self, conn: TcpConnection) -> None:
        if conn.keys is not None:
            for k in conn.keys:
                e = self.tcp.get(k)
                if e is not None and e[0] is conn:
                    del self.tcp[k]
            return
        i = conn.info
        for a, pa, b_, pb in ((i.client_ip, i.client_port, i.server_ip, i.server_port),
                              (i.server_ip, i.server_port, i.client_ip, i.client_port)):
            raw = socket.inet_pton(socket.AF_INET if ":" not in a else socket.AF_INET6, a) + \
                socket.inet_pton(socket.AF_INET if ":" not in b_ else socket.AF_INET6, b_)
            e = self.tcp.get((raw, pa, pb))
            if e is not None and e[0] is conn:
                del self.tcp[(raw, pa, pb)]

    def _udp(self, ts: float, b: bytes, l4: int, end: int, frame_no: int, hdr: bytes,
             aoff: int, alen: int) -> None:
        if l4 + 8 > end:
            raise Truncated(f"udp: header needs 8 bytes, {end - l4} left")
        sport, dport, ulen = _UDP(b, l4)
        ports = self.udp_ports
        if dport in ports:
            from_client = True
        elif sport in ports:
            from_client = False
        else:
            return
        if ulen < 8:
            raise Malformed(f"udp: length {ulen} shorter than the header")
        stop = l4 + ulen
        if stop > end:
            stop = end
            self._count("udp_datagram_truncated")
        addrs = hdr[aoff : aoff + 2 * alen]
        key = (addrs, sport, dport)
        entry = self.udp.get(key)
        if entry is None:
            src, dst, rev_addrs = self._address_text.get(addrs) or \
                self._addresses(addrs, alen)
            cip, cport, sip, sp = (src, sport, dst, dport) if from_client else \
                (dst, dport, src, sport)
            if len(self.udp) >= 2 * MAX_UDP_FLOWS:
                self._count("udp_flows_evicted")
                self._close(next(iter(self.udp.values()))[0])
            info = FlowInfo("udp", cip, cport, sip, sp, self.source, 0, None, self.context)
            rev = (rev_addrs, dport, sport)
            rec: list[Any] = [info, ports[sp](info, self.emit), ts, key, rev]
            self.udp[key] = (rec, from_client)
            self.udp[rev] = (rec, not from_client)
        else:
            rec, from_client = entry
        info = rec[0]
        info.frame = frame_no
        info.ts = self._when(ts)
        rec[2] = ts
        rec[1].datagram(from_client, b[l4 + 8 : stop])

    def _scan(self, table: dict[Any, Any], now: float, idle: float, tcp: bool) -> float:
        """Close the flows of ``table`` idle for more than ``idle`` seconds, in table order;
        return the earliest ``last`` of those kept (a lower bound until more frames come)."""
        stale = []
        seen: set[int] = set()
        oldest = math.inf
        # a loop per table kind: this runs over every flow entry (two per flow)
        if tcp:
            for conn, _ in table.values():
                last = conn.last
                if now - last > idle:
                    if id(conn) not in seen:
                        seen.add(id(conn))
                        stale.append(conn)
                elif last < oldest:
                    oldest = last
        else:
            for rec, _ in table.values():
                last = rec[2]
                if now - last > idle:
                    if id(rec) not in seen:
                        seen.add(id(rec))
                        stale.append(rec)
                elif last < oldest:
                    oldest = last
        for conn in stale:
            self._close(conn)
        return oldest

    # -- flow lifetime -----------------------------------------------------------------------
    def _close(self, conn: Any) -> None:
        """Close a TCP connection or UDP flow record, counting analyzer errors."""
        try:
            if isinstance(conn, TcpConnection):
                conn.close()
                self._forget_tcp(conn)
                if conn.error is not None:
                    e, conn.error = conn.error, None
                    raise e
            elif len(conn) > 3:  # [info, analyzer, last, key, reverse key]
                self.udp.pop(conn[3], None)
                self.udp.pop(conn[4], None)
                conn[1].close()
            else:
                info = conn[0]
                raw = socket.inet_pton(socket.AF_INET6 if ":" in info.client_ip
                                       else socket.AF_INET, info.client_ip)
                raw2 = socket.inet_pton(socket.AF_INET6 if ":" in info.server_ip
                                        else socket.AF_INET, info.server_ip)
                self.udp.pop((raw + raw2, info.client_port, info.server_port), None)
                self.udp.pop((raw2 + raw, info.server_port, info.client_port), None)
                conn[1].close()
        except InputError as e:
            self.stats.skip(f"{self.source} flow close", str(e))
        except Exception as e:  # noqa: BLE001 - last resort at the flow boundary, counted
            self.stats.skip(f"{self.source} flow close", f"{type(e).__name__}: {e}")
            self._count(f"exception_{type(e).__name__}")

    def _sweep(self, now: float) -> None:
        """Close idle flows and expire stale fragments (every SWEEP_EVERY capture seconds).

        A table is scanned only when its oldest possible ``last`` is idle: with thousands of
        short UDP flows (a DNS query per source port) scanning every 10 s cost ~3 % of a
        capture's decoding. Skipping a scan that would close nothing changes nothing."""
        self.next_sweep = now + SWEEP_EVERY
        fed = min(self._fed_min, now)  # (``now`` is the frame being fed, if any)
        self._fed_min = math.inf
        self._tcp_oldest = min(self._tcp_oldest, fed)
        self._udp_oldest = min(self._udp_oldest, fed)
        if now - self._tcp_oldest > TCP_IDLE:
            self._tcp_oldest = self._scan(self.tcp, now, TCP_IDLE, True)
        if now - self._udp_oldest > UDP_IDLE:
            self._udp_oldest = self._scan(self.udp, now, UDP_IDLE, False)
        if self.frag.pending:
            n = self.frag.expire(now)
            if n:
                self._count("ip_fragments_expired", n)
