"""Minimal, fast BER/DER reader (ITU-T X.690) for Kerberos and LDAP.

Works on ``bytes`` with explicit ``(start, stop)`` offsets so nothing is copied until a value
is decoded. Every length is checked against the enclosing element: a length running past the
buffer raises :class:`Truncated` (a stream may deliver more), anything else that cannot be
BER raises :class:`Malformed`. Only the definite length form is accepted (RFC 4120 section 5.1
mandates DER, RFC 4511 section 5.1 forbids indefinite lengths in LDAP).
"""

from __future__ import annotations

from collections.abc import Iterator

from dcwatch.errors import Malformed, Truncated

# X.690 section 8.1.2: universal tags (identifier octet, class universal).
BOOLEAN = 0x01
INTEGER = 0x02
BIT_STRING = 0x03
OCTET_STRING = 0x04
ENUMERATED = 0x0A
UTF8_STRING = 0x0C
GENERAL_STRING = 0x1B
GENERALIZED_TIME = 0x18
SEQUENCE = 0x30
SET = 0x31
OID = 0x06

MAX_LENGTH_OCTETS = 4  # X.690 8.1.3.5: we never need lengths above 4 GiB
MAX_DEPTH = 32  # recursion guard for nested structures (LDAP filters)


def ctx(n: int, constructed: bool = True) -> int:
    """Identifier octet of context-specific tag ``[n]`` (X.690 8.1.2.2, n < 31)."""
    return (0xA0 if constructed else 0x80) | n


def app(n: int, constructed: bool = True) -> int:
    """Identifier octet of application tag ``[APPLICATION n]`` (n < 31)."""
    return (0x60 if constructed else 0x40) | n


def tlv(b: bytes, off: int, end: int) -> tuple[int, int, int]:
    """Read one element at ``off``; return ``(tag, content_start, content_stop)``.

    High tag numbers (X.690 8.1.2.4) come back as ``first_octet << 16 | number`` so they
    never collide with a one-octet tag.
    """
    if off + 2 > end:
        raise Truncated(f"asn1: element header needs 2 bytes, {end - off} left")
    tag = b[off]
    if tag & 0x1F != 0x1F:  # low tag number: the common shapes first, checks below on failure
        n = b[off + 1]
        if n < 0x80:
            if off + 2 + n <= end:
                return tag, off + 2, off + 2 + n
        elif n == 0x81:
            if off + 3 <= end and off + 3 + b[off + 2] <= end:
                return tag, off + 3, off + 3 + b[off + 2]
        elif n == 0x82 and off + 4 <= end:
            stop = off + 4 + (b[off + 2] << 8 | b[off + 3])
            if stop <= end:
                return tag, off + 4, stop
    off += 1
    if tag & 0x1F == 0x1F:
        number = 0
        for _ in range(4):
            if off >= end:
                raise Truncated("asn1: high tag number runs past the buffer")
            c = b[off]
            off += 1
            number = (number << 7) | (c & 0x7F)
            if not c & 0x80:
                break
        else:
            raise Malformed("asn1: high tag number longer than 4 octets")
        tag = (tag << 16) | number
        if off >= end:
            raise Truncated("asn1: length octet missing")
    n = b[off]
    off += 1
    if n & 0x80:
        k = n & 0x7F
        if k == 0:
            raise Malformed("asn1: indefinite length is not allowed here")
        if k > MAX_LENGTH_OCTETS:
            raise Malformed(f"asn1: length uses {k} octets, at most {MAX_LENGTH_OCTETS} expected")
        if off + k > end:
            raise Truncated(f"asn1: length needs {k} octets, {end - off} left")
        n = int.from_bytes(b[off : off + k], "big")
        off += k
    stop = off + n
    if stop > end:
        raise Truncated(f"asn1: element length {n} exceeds the {end - off} bytes left")
    return tag, off, stop


def expect(b: bytes, off: int, end: int, tag: int, what: str = "") -> tuple[int, int]:
    """Read the element at ``off`` and require ``tag``; return its content bounds."""
    if off + 2 <= end and b[off] == tag and tag & 0x1F != 0x1F:  # tlv()'s common cases inline
        n = b[off + 1]
        if n < 0x80:
            if off + 2 + n <= end:
                return off + 2, off + 2 + n
        elif n == 0x82:
            if off + 4 <= end and off + 4 + (b[off + 2] << 8 | b[off + 3]) <= end:
                return off + 4, off + 4 + (b[off + 2] << 8 | b[off + 3])
        elif n == 0x81 and off + 3 <= end and off + 3 + b[off + 2] <= end:
            return off + 3, off + 3 + b[off + 2]
    t, s, e = tlv(b, off, end)
    if t != tag:
        raise Malformed(f"asn1: {what or 'element'} tag 0x{tag:02x} expected, found 0x{t:02x}")
    return s, e


def children(b: bytes, start: int, stop: int) -> Iterator[tuple[int, int, int]]:
    """Iterate ``(tag, start, stop)`` of the elements inside a constructed value."""
    off = start
    while off < stop:
        t = b[off]
        n = b[off + 1] if off + 1 < stop else 0x80
        if n < 0x80 and t & 0x1F != 0x1F and off + 2 + n <= stop:  # tlv()'s common case
            yield t, off + 2, off + 2 + n
            off += 2 + n
        else:
            t, s, e = tlv(b, off, stop)
            yield t, s, e
            off = e


def int_list(b: bytes, start: int, stop: int) -> list[int]:
    """``int_value`` of each element inside a constructed value (SEQUENCE OF INTEGER)."""
    out = []
    off = start
    while off < stop:
        if off + 3 <= stop and b[off + 1] == 1 and b[off] & 0x1F != 0x1F:  # one-octet value
            v = b[off + 2]
            out.append(v - 0x100 if v & 0x80 else v)
            off += 3
        else:
            _, s, off = tlv(b, off, stop)
            out.append(int_value(b, s, off))
    return out


def text_list(b: bytes, start: int, stop: int) -> list[str]:
    """``text`` of each element inside a constructed value (SEQUENCE OF GeneralString)."""
    out = []
    off = start
    while off < stop:
        n = b[off + 1] if off + 1 < stop else 0x80
        if n < 0x80 and b[off] & 0x1F != 0x1F and off + 2 + n <= stop:  # tlv()'s common case
            out.append(b[off + 2 : off + 2 + n].decode("utf-8", "replace"))
            off += 2 + n
        else:
            _, s, off = tlv(b, off, stop)
            out.append(b[s:off].decode("utf-8", "replace"))
    return out


def fields(b: bytes, start: int, stop: int) -> dict[int, tuple[int, int]]:
    """Map tag -> content bounds of the members of a SEQUENCE (first occurrence wins)."""
    out: dict[int, tuple[int, int]] = {}
    off = start
    while off < stop:
        t = b[off]
        n = b[off + 1] if off + 1 < stop else 0x80
        if n < 0x80 and t & 0x1F != 0x1F and off + 2 + n <= stop:  # tlv()'s common case
            s = off + 2
            e = s + n
        elif n == 0x82 and t & 0x1F != 0x1F and off + 4 <= stop and \
                off + 4 + (b[off + 2] << 8 | b[off + 3]) <= stop:  # and a 2-octet length
            s = off + 4
            e = s + (b[off + 2] << 8 | b[off + 3])
        else:
            t, s, e = tlv(b, off, stop)
        if t not in out:
            out[t] = (s, e)
        off = e
    return out


def inner(b: bytes, bounds: tuple[int, int], tag: int, what: str = "") -> tuple[int, int]:
    """Content bounds of the single element of tag ``tag`` inside an explicit tag's content."""
    return expect(b, bounds[0], bounds[1], tag, what)


def int_value(b: bytes, start: int, stop: int) -> int:
    """Decode INTEGER/ENUMERATED content octets (two's complement, X.690 8.3)."""
    if stop - start == 1:  # most integers (etypes, tags, small counts): no from_bytes
        v = b[start]
        return v - 0x100 if v & 0x80 else v
    if stop <= start:
        raise Malformed("asn1: empty INTEGER")
    if stop - start > 9:
        raise Malformed(f"asn1: INTEGER of {stop - start} octets is too long")
    return int.from_bytes(b[start:stop], "big", signed=True)


def read_int(b: bytes, bounds: tuple[int, int], what: str = "integer") -> int:
    """Decode an explicitly tagged INTEGER: ``bounds`` is the content of the ``[n]`` tag."""
    off, end = bounds
    if off + 3 <= end and b[off + 1] == 1 and b[off] in (INTEGER, ENUMERATED):
        v = b[off + 2]  # a one-octet INTEGER, the usual case, inline
        return v - 0x100 if v & 0x80 else v
    t, s, e = tlv(b, off, end)
    if t not in (INTEGER, ENUMERATED):
        raise Malformed(f"asn1: {what}: INTEGER expected, found tag 0x{t:02x}")
    return int_value(b, s, e)


def text(b: bytes, start: int, stop: int) -> str:
    """Decode string content (UTF-8; undecodable bytes replaced, never raises)."""
    return b[start:stop].decode("utf-8", "replace")


def read_text(b: bytes, bounds: tuple[int, int]) -> str:
    """Decode an explicitly tagged string: ``bounds`` is the content of the ``[n]`` tag."""
    _, s, e = tlv(b, bounds[0], bounds[1])
    return text(b, s, e)


def boolean(b: bytes, start: int, stop: int) -> bool:
    """Decode BOOLEAN content (X.690 8.2: any non-zero octet is TRUE in BER)."""
    if stop - start != 1:
        raise Malformed(f"asn1: BOOLEAN of {stop - start} octets, 1 expected")
    return b[start] != 0


def bit_string_int(b: bytes, start: int, stop: int) -> tuple[int, int]:
    """Decode BIT STRING content as ``(value, total_bits)``; bit 0 is the most significant."""
    if stop <= start:
        raise Malformed("asn1: empty BIT STRING")
    unused = b[start]
    if unused > 7:
        raise Malformed(f"asn1: BIT STRING with {unused} unused bits")
    return int.from_bytes(b[start + 1 : stop], "big"), (stop - start - 1) * 8


def oid_text(b: bytes, start: int, stop: int) -> str:
    """Decode OBJECT IDENTIFIER content to dotted form (X.690 8.19)."""
    if stop <= start:
        raise Malformed("asn1: empty OID")
    if b[stop - 1] & 0x80:
        raise Malformed("asn1: OID ends inside a subidentifier")
    arcs: list[int] = []
    v = 0
    for i in range(start, stop):
        c = b[i]
        v = (v << 7) | (c & 0x7F)
        if not c & 0x80:
            arcs.append(v)
            v = 0
    first = arcs[0]
    head = [min(first // 40, 2), first - 40 * min(first // 40, 2)]
    return ".".join(str(a) for a in head + arcs[1:])
