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
