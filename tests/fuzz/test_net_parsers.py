"""Hypothesis: any bytes give a message or an InputError from every network decoder, and the
packet decoder / capture reader never raise at all (malformed input is counted)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcwatch.errors import InputError
from dcwatch.protocols import asn1, dns, kerberos, ldap
from dcwatch.protocols.ldap_activity import sasl_unwrap
from dcwatch.protocols.net.decoder import PacketDecoder
from dcwatch.sources.base import SourceStats
from dcwatch.sources.pcap import read_capture

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "protocols"))
import contextlib

import wire as w

SYNTHETIC = Path(__file__).resolve().parents[1] / "data" / "protocols" / "synthetic-dc.pcap"
TKT = w.ticket("CORP.LOCAL", "krbtgt/CORP.LOCAL", 18, b"c" * 40)
SAMPLES = [
    w.kdc_req(10, "CORP.LOCAL", "krbtgt/CORP.LOCAL", cname="alice",
              padata=(w.pa(2, w.enc_data(23, b"ts")), w.pa(128, w.seq(w.ctx(0, w.boolean(1)))))),
    w.kdc_req(12, "CORP.LOCAL", "cifs/dc", padata=(w.pa(1, w.ap_req(TKT)),), additional=(TKT,)),
    w.kdc_rep(11, "CORP.LOCAL", "alice", TKT),
    w.krb_error(24, "CORP.LOCAL", "krbtgt/CORP.LOCAL", cname="alice", e_text="x"),
    w.ap_req(TKT),
]
LDAP_SAMPLES = [
    w.ldap_msg(2, w.ldap_search("DC=x", 2, w.f_and(w.f_present("a"), w.f_not(w.f_eq("b", b"c")),
                                                  w.f_sub("d", b"e", (b"f",), b"g"),
                                                  w.f_ext("h", "1.2", b"i")), ("cn",))),
    w.ldap_msg(3, w.tlv(0x66, w.octets(b"CN=x") + w.seq(w.seq(w.enum(0), w.partial_attr(
        "member", b"CN=y")), w.seq(w.enum(2), w.partial_attr("sIDHistory", b"\x01" * 12))))),
    w.ldap_msg(1, w.tlv(0x60, w.integer(3) + w.octets(b"cn=a") + w.tlv(0x80, b"pw"))),
]
DNS_SAMPLES = [w.dns_msg(1, "a.b.c", 33), w.dns_msg(2, "x.y", 1, response=True, answers=2)]
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def mutate(data: bytes, edits: list[tuple[int, int]], cut: int) -> bytes:
    """Overwrite a few bytes and maybe truncate."""
    b = bytearray(data)
    for pos, val in edits:
        if b:
            b[pos % len(b)] = val
    return bytes(b[: cut % (len(b) + 1)]) if cut % 3 == 0 else bytes(b)


edits = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=6)


def only_input_errors(fn, data: bytes) -> None:  # type: ignore[no-untyped-def]
    """Call fn(data); anything but an InputError fails the test."""
    with contextlib.suppress(InputError):
        fn(data)


@FUZZ
@given(st.binary(max_size=600))
def test_random_bytes(data: bytes) -> None:
    """Random input to every decoder function."""
    for fn in (kerberos.parse, kerberos.parse_ap_req, dns.parse, sasl_unwrap,
               lambda d: ldap.parse_message(d, 0, len(d)),
               lambda d: ldap.render_filter(d, 0, len(d)),
               lambda d: asn1.fields(d, 0, len(d))):
        only_input_errors(fn, data)


@FUZZ
@given(st.integers(0, len(SAMPLES) - 1), edits, st.integers(0, 1 << 16))
def test_mutated_kerberos(i: int, ed: list[tuple[int, int]], cut: int) -> None:
    """Mutated real-shaped Kerberos messages."""
    only_input_errors(kerberos.parse, mutate(SAMPLES[i], ed, cut))


@FUZZ
@given(st.integers(0, len(LDAP_SAMPLES) - 1), edits, st.integers(0, 1 << 16))
def test_mutated_ldap_and_dns(i: int, ed: list[tuple[int, int]], cut: int) -> None:
    """Mutated LDAP messages and DNS messages."""
    d = mutate(LDAP_SAMPLES[i], ed, cut)
    only_input_errors(lambda x: ldap.parse_message(x, 0, len(x)), d)
    only_input_errors(dns.parse, mutate(DNS_SAMPLES[i % 2], ed, cut))


FRAMES = [f for _, f in w.read_pcap(SYNTHETIC.read_bytes())[1]]


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(FRAMES) - 1), edits, st.integers(0, 1 << 16)),
                max_size=40),
       st.sampled_from([0, 1, 101, 113, 276, 999]))
def test_packet_decoder_never_raises(pkts: list, linktype: int) -> None:  # type: ignore[type-arg]
    """Mutated real frames in any order and any linktype: counted, never raised."""
    stats = SourceStats("fuzz")
    d = PacketDecoder("fuzz", stats)
    for n, (i, ed, cut) in enumerate(pkts, 1):
        d.feed(1.6e9 + n, linktype if n % 2 else 1, mutate(FRAMES[i], ed, cut), n)
    d.finish()
    assert stats.records == len(pkts)
    assert not any(k.startswith("exception_") for k in stats.weirds), stats.weirds


@FUZZ
@given(edits, st.integers(0, 1 << 20))
def test_read_capture_never_raises(ed: list[tuple[int, int]], cut: int) -> None:
    """A mutated or cut capture file ends with a fatal reason at most."""
    data = mutate(SYNTHETIC.read_bytes(), [(p % 64, v) for p, v in ed[:1]] + ed, cut)
    stats = SourceStats("fuzz")
    list(read_capture(io.BytesIO(data), "fuzz", stats))
    assert not any(k.startswith("exception_") for k in stats.weirds), stats.weirds


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(FRAMES) - 1), edits, st.integers(0, 1 << 16)),
                max_size=30),
       st.integers(0, 9))
def test_feed_at_in_place_equals_feed(pkts: list, pad: int) -> None:  # type: ignore[type-arg]
    """Mutated frames read in place inside a larger buffer (``feed_at``, the capture reader's
    path: inline IPv4/TCP/UDP fast path, no frame copy) decode exactly as ``feed`` of a copy."""
    runs = []
    for in_place in (False, True):
        stats = SourceStats("fuzz")
        d = PacketDecoder("fuzz", stats)
        for n, (i, ed, cut) in enumerate(pkts, 1):
            frame = mutate(FRAMES[i], ed, cut)
            if in_place:
                d.feed_at(1.6e9 + n, 1, b"\x45" * pad + frame + b"\x00" * pad, pad,
                          pad + len(frame), n)
            else:
                d.feed(1.6e9 + n, 1, frame, n)
        d.finish()
        runs.append(([a.to_dict() for a in d.drain()], stats.records, stats.skipped,
                     stats.first_error, stats.weirds))
    assert runs[0] == runs[1]
