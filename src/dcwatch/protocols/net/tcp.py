"""TCP reassembly (RFC 9293 section 3.10.7.4 segment arrival), one ``TcpConnection`` per flow.

Each direction delivers in-order bytes to the connection's analyzer. Retransmissions and
overlaps are trimmed (first copy wins), out-of-order segments wait in a bounded buffer; when the
buffer overflows, or the connection ends with a hole, the hole is reported to the analyzer as a
gap (``analyzer.gap``) and delivery resumes after it. Streams picked up mid-connection (no SYN)
start at the first segment seen. A per-direction byte cap bounds CPU on bulk transfers.
"""

from __future__ import annotations

from typing import Any

from dcwatch.errors import InputError
from dcwatch.protocols.flow import FlowInfo

FIN, SYN, RST, ACK = 0x01, 0x02, 0x04, 0x10  # RFC 9293 3.1 control bits
SEQ_MASK = 0xFFFFFFFF
MAX_OOO_BYTES = 256 * 1024  # out-of-order bytes buffered per direction before a gap is declared
MAX_OOO_SEGMENTS = 128
MAX_DIRECTION_BYTES = 256 * 1024 * 1024  # bytes delivered per direction (per-flow byte cap)


class HalfStream:
    """Reassembly state of one direction."""

    __slots__ = ("capped", "delivered", "fin", "next_seq", "ooo", "ooo_bytes")

    def __init__(self) -> None:
        self.next_seq: int | None = None
        self.ooo: dict[int, bytes] = {}
        self.ooo_bytes = 0
        self.delivered = 0
        self.fin = False
        self.capped = False


class TcpConnection:
    """One TCP connection: flow info, its analyzer and both half-streams."""

    __slots__ = ("analyzer", "c", "closed", "counters", "error", "info", "keys", "last", "s")

    def __init__(self, info: FlowInfo, analyzer: Any, ts: float, counters: dict[str, int]) -> None:
        self.info = info
        self.analyzer = analyzer
        self.c = HalfStream()
        self.s = HalfStream()
        self.last = ts
        self.closed = False
        self.counters = counters
        self.error: InputError | None = None
        self.keys: tuple[Any, Any] | None = None  # the decoder's two table keys of this flow

    def _count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def segment(self, from_client: bool, seq: int, flags: int, payload: bytes,
                cut: int = 0) -> None:
        """Feed one segment; delivers in-order bytes. Raises the analyzer's first InputError.

        ``cut``: bytes of this segment after ``payload`` that the capture did not keep (snap
        length). In order, they are reported as a gap at once and the stream goes on after
        them; otherwise every later segment would wait behind a hole that never fills."""
        h = self.c if from_client else self.s
        if flags & SYN:
            seq = (seq + 1) & SEQ_MASK
            if h.next_seq is None or not h.delivered:
                h.next_seq = seq
        if h.next_seq is None:
            h.next_seq = seq  # mid-stream pickup
        if (payload or cut) and not h.capped:
            n = len(payload)
            if seq == h.next_seq and not h.ooo and h.delivered + n <= MAX_DIRECTION_BYTES:
                # in order, nothing buffered, under the cap (almost every segment): deliver
                # without the general path's calls; _data/_deliver do the same otherwise
                h.next_seq = (seq + n) & SEQ_MASK
                h.delivered += n
                if n:
                    try:
                        self.analyzer.data(from_client, payload)
                    except InputError as e:
                        self.error = self.error or e
                if cut:
                    self._snap_cut(from_client, h, cut)
            elif payload:
                self._data(from_client, h, seq, payload)  # a cut tail stays a hole here
        if flags & FIN:
            h.fin = True
        if flags & RST or (self.c.fin and self.s.fin):
            self.close()
        if self.error is not None:
            err, self.error = self.error, None
            raise err

    def _data(self, fc: bool, h: HalfStream, seq: int, payload: bytes) -> None:
        rel = (seq - h.next_seq) & SEQ_MASK  # type: ignore[operator]
        if rel & 0x80000000:
            rel -= 1 << 32
        n = len(payload)
        if rel < 0:
            if rel + n <= 0:
                self._count("tcp_retransmitted_segments")
                return
            payload = payload[-rel:]  # overlap with delivered bytes: the first copy wins
            n += rel
            rel = 0
        if rel == 0:
            h.next_seq = (h.next_seq + n) & SEQ_MASK  # type: ignore[operator]
            self._deliver(fc, h, payload)
            if h.ooo:
                self._drain(fc, h)
            return
        if seq in h.ooo and len(h.ooo[seq]) >= n:
            return
        h.ooo_bytes += n - len(h.ooo.get(seq, b""))
        h.ooo[seq] = payload
        if h.ooo_bytes > MAX_OOO_BYTES or len(h.ooo) > MAX_OOO_SEGMENTS:
            self._count("tcp_out_of_order_overflow")
            self._skip_hole(fc, h)

    def _snap_cut(self, fc: bool, h: HalfStream, cut: int) -> None:
        """The uncaptured tail of an in-order segment: a content gap, then go on after it."""
        self._count("tcp_snaplen_cut_segments")
        self._count("tcp_content_gap")
        self._count("tcp_content_gap_bytes", cut)
        h.next_seq = (h.next_seq + cut) & SEQ_MASK  # type: ignore[operator]
        try:
            self.analyzer.gap(fc, cut)
        except InputError as e:
            self.error = self.error or e

    def _drain(self, fc: bool, h: HalfStream) -> None:
        """Deliver buffered segments that have become contiguous."""
        progress = True
        while progress and h.ooo:
            progress = False
            for s in list(h.ooo):
                rel = (s - h.next_seq) & SEQ_MASK  # type: ignore[operator]
                if rel & 0x80000000:
                    rel -= 1 << 32
                if rel > 0:
                    continue
                data = h.ooo.pop(s)
                h.ooo_bytes -= len(data)
                if rel + len(data) > 0:
                    data = data[-rel:] if rel else data
                    h.next_seq = (h.next_seq + len(data)) & SEQ_MASK  # type: ignore[operator]
                    self._deliver(fc, h, data)
                progress = True

    def _skip_hole(self, fc: bool, h: HalfStream) -> None:
        """Report the hole before the lowest buffered segment as a gap and resume there."""
        if not h.ooo:
            return
        base = h.next_seq
        first = min(h.ooo, key=lambda s: (s - base) & SEQ_MASK)  # type: ignore[operator]
        missing = (first - base) & SEQ_MASK  # type: ignore[operator]
        self._count("tcp_content_gap")
        self._count("tcp_content_gap_bytes", missing)
        h.next_seq = first
        try:
            self.analyzer.gap(fc, missing)
        except InputError as e:
            self.error = self.error or e
        self._drain(fc, h)

    def _deliver(self, fc: bool, h: HalfStream, data: bytes) -> None:
        h.delivered += len(data)
        if h.delivered > MAX_DIRECTION_BYTES:
            h.capped = True
            self._count("tcp_flow_byte_cap")
            return
        try:
            self.analyzer.data(fc, data)
        except InputError as e:
            self.error = self.error or e

    def close(self) -> None:
        """Flush holes and buffered data, then close the analyzer (idempotent)."""
        if self.closed:
            return
        self.closed = True
        for fc, h in ((True, self.c), (False, self.s)):
            while h.ooo and not h.capped:
                self._skip_hole(fc, h)
        try:
            self.analyzer.close()
        except InputError as e:
            self.error = self.error or e
