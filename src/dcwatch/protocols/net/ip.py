"""IPv4 (RFC 791) / IPv6 (RFC 8200) helpers: extension-header walk and bounded fragment reassembly.

Reassembly keeps at most ``MAX_DATAGRAMS`` datagrams in progress, each at most 65535 bytes, and
forgets one after ``TIMEOUT`` seconds (RFC 791 section 3.2 suggests 15 s, RFC 8200 4.5 60 s);
whatever it drops is counted so nothing is lost silently.
"""

from __future__ import annotations

from dcwatch.errors import Malformed, Truncated

# RFC 8200 section 4 / IANA protocol numbers.
PROTO_TCP = 6
PROTO_UDP = 17
IPV6_HOP_BY_HOP, IPV6_ROUTING, IPV6_FRAGMENT, IPV6_DEST_OPTS = 0, 43, 44, 60
IPV6_AH, IPV6_ESP, IPV6_NO_NEXT = 51, 50, 59
MAX_EXT_HEADERS = 8
MAX_DATAGRAM = 65535  # RFC 791 Total Length / RFC 8200 Payload Length (no jumbograms)
MAX_DATAGRAMS = 1024
TIMEOUT = 30.0


def ipv6_payload(frame: bytes, off: int, end: int) -> tuple[int, int, tuple[int, int, bool] | None]:
    """Walk IPv6 extension headers from the fixed header at ``off``.

    Returns ``(next_header, l4_offset, fragment)`` where ``fragment`` is
    ``(identification, byte_offset, more_fragments)`` when a Fragment header was found.
    """
    nh = frame[off + 6]
    p = off + 40
    frag = None
    for _ in range(MAX_EXT_HEADERS):
        if nh in (IPV6_HOP_BY_HOP, IPV6_ROUTING, IPV6_DEST_OPTS):
            if p + 2 > end:
                raise Truncated("ipv6: extension header cut short")
            nh, p = frame[p], p + (frame[p + 1] + 1) * 8
        elif nh == IPV6_FRAGMENT:  # RFC 8200 4.5
            if p + 8 > end:
                raise Truncated("ipv6: fragment header cut short")
            fo = frame[p + 2] << 8 | frame[p + 3]
            frag = (int.from_bytes(frame[p + 4 : p + 8], "big"), fo & 0xFFF8, bool(fo & 1))
            nh, p = frame[p], p + 8
        elif nh == IPV6_AH:  # RFC 4302 2.2: length in 4-octet units minus 2
            if p + 2 > end:
                raise Truncated("ipv6: AH header cut short")
            nh, p = frame[p], p + (frame[p + 1] + 2) * 4
        else:
            break
    else:
        raise Malformed(f"ipv6: more than {MAX_EXT_HEADERS} extension headers")
    if p > end:
        raise Truncated("ipv6: extension headers run past the packet")
    return nh, p, frag


class Reassembler:
    """Fragments of IPv4/IPv6 datagrams, keyed by (addresses, identification, protocol)."""

    __slots__ = ("dropped", "pending")

    def __init__(self) -> None:
        self.pending: dict[tuple[bytes, int, int], list] = {}  # key -> [first_ts, total, frags]
        self.dropped = 0

    def add(self, key: tuple[bytes, int, int], ts: float, offset: int, more: bool,
            data: bytes) -> bytes | None:
        """Add one fragment; return the whole payload once every byte has arrived."""
        if offset + len(data) > MAX_DATAGRAM:
            raise Malformed(f"ip: fragment ends at {offset + len(data)}, past {MAX_DATAGRAM}")
        entry = self.pending.get(key)
        if entry is None:
            if len(self.pending) >= MAX_DATAGRAMS:
                self.expire(ts, force=True)
            entry = self.pending[key] = [ts, None, {}]
        if not more:
            entry[1] = offset + len(data)
        frags: dict[int, bytes] = entry[2]
        if offset not in frags or len(data) > len(frags[offset]):
            frags[offset] = data
        total = entry[1]
        if total is None:
            return None
        buf = bytearray(total)
        have = 0
        for off in sorted(frags):
            chunk = frags[off]
            if off > have:
                return None  # hole
            end = min(off + len(chunk), total)
            buf[off:end] = chunk[: end - off]
            have = max(have, end)
        if have < total:
            return None
        del self.pending[key]
        return bytes(buf)

    def expire(self, now: float, force: bool = False) -> int:
        """Forget datagrams older than TIMEOUT (or the oldest half when ``force``)."""
        if force:
            victims = list(self.pending)[: max(1, len(self.pending) // 2)]
        else:
            victims = [k for k, v in self.pending.items() if now - v[0] > TIMEOUT]
        for k in victims:
            del self.pending[k]
        self.dropped += len(victims)
        return len(victims)
