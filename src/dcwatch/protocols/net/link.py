"""Link layers (tcpdump.org LINKTYPE_* values) down to the IP header: Ethernet with 802.1Q/QinQ,
Linux cooked capture v1/v2, raw IP, BSD null/loopback.

``ip_start`` returns the ethertype of the network layer (0x0800 IPv4, 0x86DD IPv6, anything else
is ignored by the decoder) and the offset of its header in the frame.
"""

from __future__ import annotations

from dcwatch.errors import Malformed, Truncated

# https://www.tcpdump.org/linktypes.html
LINKTYPE_NULL = 0  # 4-byte address family in the capturing host's byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW_OPENBSD = 12  # DLT_RAW on some BSDs
LINKTYPE_RAW_BSD = 14
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108  # OpenBSD loopback: address family in network byte order
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
SUPPORTED = frozenset({LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW_OPENBSD, LINKTYPE_RAW_BSD,
                       LINKTYPE_RAW, LINKTYPE_LOOP, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4,
                       LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2})

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_VLAN = frozenset({0x8100, 0x88A8, 0x9100})  # IEEE 802.1Q, 802.1ad (QinQ), legacy QinQ
MAX_VLAN_TAGS = 4
# BSD AF_INET6 differs per OS: 24 NetBSD/OpenBSD, 28 FreeBSD, 30 macOS (pcap-linktype(7)).
AF_INET = 2
AF_INET6 = frozenset({10, 24, 28, 30})


def _version(frame: bytes, off: int) -> int:
    if off >= len(frame):
        raise Truncated("link: no IP header after the link header")
    v = frame[off] >> 4
    return ETH_IPV4 if v == 4 else ETH_IPV6 if v == 6 else 0


def ip_start(linktype: int, frame: bytes) -> tuple[int, int]:
    """``(ethertype, offset)`` of the network-layer header of ``frame``."""
    n = len(frame)
    if linktype == LINKTYPE_ETHERNET:
        if n < 14:
            raise Truncated(f"ethernet: header needs 14 bytes, {n} captured")
        et = frame[12] << 8 | frame[13]
        off = 14
        tags = 0
        while et in ETH_VLAN:
            tags += 1
            if tags > MAX_VLAN_TAGS or off + 4 > n:
                raise Malformed("ethernet: VLAN tags cut short or too many")
            et = frame[off + 2] << 8 | frame[off + 3]
            off += 4
        return et, off
    if linktype == LINKTYPE_LINUX_SLL:
        if n < 16:
            raise Truncated(f"sll: header needs 16 bytes, {n} captured")
        return frame[14] << 8 | frame[15], 16
    if linktype == LINKTYPE_LINUX_SLL2:
        if n < 20:
            raise Truncated(f"sll2: header needs 20 bytes, {n} captured")
        return frame[0] << 8 | frame[1], 20
    if linktype in (LINKTYPE_RAW, LINKTYPE_RAW_OPENBSD, LINKTYPE_RAW_BSD, LINKTYPE_IPV4,
                    LINKTYPE_IPV6):
        return _version(frame, 0), 0
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if n < 4:
            raise Truncated(f"null: header needs 4 bytes, {n} captured")
        if linktype == LINKTYPE_LOOP:
            family = int.from_bytes(frame[0:4], "big")
        else:  # host byte order: whichever end is non-zero
            family = frame[0] if frame[0] else int.from_bytes(frame[0:4], "big")
        if family == AF_INET:
            return ETH_IPV4, 4
        if family in AF_INET6:
            return ETH_IPV6, 4
        return 0, 4
    raise Malformed(f"link: linktype {linktype} is not supported")
