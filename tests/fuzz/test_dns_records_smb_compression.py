"""Hypothesis: the DNS resource-record walk (large messages) never raises, and the SMB
compression-header reader gives a header or an InputError."""

from __future__ import annotations

import contextlib
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcwatch.errors import InputError
from dcwatch.protocols import dns
from dcwatch.protocols.smb import smb2

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
BIG = struct.pack(">HHHHHH", 1, 0x8180, 1, 3, 0, 0) + b"\x01a\x00" + struct.pack(">HH", 24, 1) \
    + (b"\xc0\x0c" + struct.pack(">HHIH", 24, 1, 0, 2000) + struct.pack(">HBBIIIH", 1, 5, 2,
       0, 0, 0, 1) + b"\xc0\x0c" + b"s" * 1980) * 3


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(BIG) - 1), st.integers(0, 255)), max_size=8),
       st.integers(0, len(BIG)))
def test_record_walk_never_raises(edits: list[tuple[int, int]], cut: int) -> None:
    b = bytearray(BIG)
    for pos, val in edits:
        b[pos] = val
    data = bytes(b[: max(cut, 12)])
    scan = dns.scan_records(data)
    assert isinstance(scan["records"], int)
    with contextlib.suppress(InputError):
        dns.parse(data)


@FUZZ
@given(st.binary(max_size=40))
def test_compression_header(data: bytes) -> None:
    with contextlib.suppress(InputError):
        size, _algo, _flags, off = smb2.compression_header(memoryview(b"\xfcSMB" + data))
        assert 0 <= size <= 0xFFFFFFFF
        assert 0 <= off <= 0xFFFFFFFF


def _read(b: bytes, off: int) -> tuple[str, int] | str:
    try:
        return dns.read_name(b, off)
    except InputError as e:
        return f"{type(e).__name__}: {e}"


@FUZZ
@given(st.lists(st.sampled_from([b"\x00", b"\x01", b"\x03", b"\x3f", b"\xc0", b"a", b".", b" ",
                                 b"\x7f", b"\x05ab\x00cd"]), max_size=12),
       st.integers(0, 2))
def test_name_cache_gives_the_walks_answer(parts: list[bytes], off: int) -> None:
    """A name read again (from the remembered wire forms) reads as it did the first time and,
    when it reads at all, as the general loop reads it; a zero inside a label ends no name."""
    b = b"".join(parts)
    dns._NAMES.clear()
    first = _read(b, off)
    assert _read(b, off) == first
    if isinstance(first, tuple):
        assert _read(b + b"tail", off) == first
        assert dns._read_name(b, off) == first
