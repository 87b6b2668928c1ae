"""Hypothesis: any bytes give a RADIUS packet or an InputError; the packet decoder never raises
on mutated RADIUS accounting frames (malformed datagrams are counted)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.protocols import wire as w

from dcwatch.errors import InputError
from dcwatch.protocols import radius
from dcwatch.protocols.net.decoder import PacketDecoder
from dcwatch.sources.base import SourceStats

PCAP = Path(__file__).resolve().parents[1] / "data" / "protocols" / "radius-accounting.pcap"
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


FRAMES = [f for _, f in w.read_pcap(PCAP.read_bytes())[1]]
PAYLOADS = [f[42:] for f in FRAMES]  # Ethernet 14 + IPv4 20 + UDP 8
edits = st.lists(st.tuples(st.integers(0, 1 << 12), st.integers(0, 255)), max_size=6)


def mutate(data: bytes, ed: list[tuple[int, int]], cut: int) -> bytes:
    b = bytearray(data)
    for pos, val in ed:
        b[pos % len(b)] = val
    return bytes(b[: cut % (len(b) + 1)]) if cut % 3 == 0 else bytes(b)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    with contextlib.suppress(InputError):
        radius.parse(data)


@FUZZ
@given(st.integers(0, len(PAYLOADS) - 1), edits, st.integers(0, 1 << 12))
def test_mutated_packets(i: int, ed: list[tuple[int, int]], cut: int) -> None:
    with contextlib.suppress(InputError):
        radius.parse(mutate(PAYLOADS[i], ed, cut))


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(FRAMES) - 1), edits, st.integers(0, 1 << 12)),
                max_size=20))
def test_packet_decoder_never_raises(pkts: list) -> None:  # type: ignore[type-arg]
    stats = SourceStats("fuzz")
    d = PacketDecoder("fuzz", stats)
    for n, (i, ed, cut) in enumerate(pkts, 1):
        d.feed(1.7e9 + n, 1, mutate(FRAMES[i], [(42 + p, v) for p, v in ed], cut), n)
    d.finish()
    assert not any(k.startswith("exception_") for k in stats.weirds), stats.weirds
