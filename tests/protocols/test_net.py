"""Capture containers, link layers, IP fragments and TCP reassembly."""

from __future__ import annotations

import io
import struct
import zipfile
from pathlib import Path

import pytest

from dcwatch.model.activity import Activity
from dcwatch.sources.base import SourceStats
from dcwatch.sources.pcap import read_capture

from . import wire as w

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared" / "data"
DC, C = "10.0.0.10", "10.0.0.50"


def decode(data: bytes) -> tuple[list[Activity], SourceStats]:
    """All activities of a capture."""
    stats = SourceStats("t")
    return list(read_capture(io.BytesIO(data), "t.pcap", stats)), stats


def dns_pair(txid: int = 7) -> tuple[bytes, bytes]:
    """UDP/IPv4 DNS query and response (IP packets, no link header)."""
    q = w.ipv4(C, DC, 17, w.udp(40000, 53, w.dns_msg(txid, "dc01.corp.local", 1)))
    r = w.ipv4(DC, C, 17, w.udp(53, 40000, w.dns_msg(txid, "dc01.corp.local", 1, response=True,
                                                       answers=1)))
    return q, r


@pytest.mark.parametrize(("nano", "big"), [(False, False), (True, False), (False, True),
                                           (True, True)])
def test_pcap_byte_orders_and_resolutions(nano: bool, big: bool) -> None:
    """pcap in both byte orders, micro- and nanosecond timestamps."""
    q, r = dns_pair()
    acts, stats = decode(w.pcap([(1.6e9 + 0.25, w.ether(q)), (1.6e9 + 0.5, w.ether(r))],
                                nano=nano, big_endian=big))
    assert stats.records == 2
    assert stats.fatal is None
    assert stats.format == "pcap"
    (a,) = acts
    assert a.ts.timestamp() == pytest.approx(1.6e9 + 0.25, abs=1e-6)


def test_pcapng_interfaces_and_tsresol() -> None:
    """Two interfaces with different linktypes and resolutions, plus a simple packet block."""
    q, r = dns_pair()
    q2, r2 = dns_pair(8)
    sll = b"\x00\x00\x00\x01\x00\x06" + b"\x00" * 8 + b"\x08\x00"
    data = w.pcapng([(1, None), (113, 9)],
                    [(0, int(1.6e9 * 1e6), w.ether(q)), (1, int((1.6e9 + 1) * 1e9), sll + r),
                     (1, int((1.6e9 + 2) * 1e9), sll + q2)],
                    spb=[w.ether(r2)])
    acts, stats = decode(data)
    assert stats.format == "pcapng"
    assert stats.skipped == 0
    assert stats.fatal is None
    assert stats.records == 4
    assert [a.fields["txid"] for a in acts] == [7, 8]
    assert acts[0].ts.timestamp() == pytest.approx(1.6e9, abs=1e-3)


@pytest.mark.parametrize("linktype", [0, 101, 108, 113, 276, 228])
def test_link_layers(linktype: int) -> None:
    """Null/loopback, raw IP, SLL, SLL2 and LINKTYPE_IPV4 reach the DNS analyzer."""
    heads = {0: b"\x02\x00\x00\x00", 101: b"", 108: b"\x00\x00\x00\x02",
             113: b"\x00" * 14 + b"\x08\x00", 276: b"\x08\x00" + b"\x00" * 18, 228: b""}
    q, r = dns_pair()
    acts, stats = decode(w.pcap([(1.0, heads[linktype] + q), (2.0, heads[linktype] + r)],
                                linktype=linktype))
    assert stats.skipped == 0
    assert len(acts) == 1
    assert acts[0].fields["rcode"] == 0


def test_qinq_and_ipv6_extension_headers() -> None:
    """802.1ad+802.1Q tags and IPv6 hop-by-hop + destination options before UDP."""
    c6, d6 = b"\xfd" + b"\x00" * 14 + b"\x50", b"\xfd" + b"\x00" * 14 + b"\x10"
    ext = bytes([60, 0]) + b"\x00" * 6  # hop-by-hop -> dest opts
    ext2 = bytes([17, 0]) + b"\x00" * 6  # dest opts -> UDP
    frames = []
    for src, dst, sp, dp, resp in ((c6, d6, 40000, 53, False), (d6, c6, 53, 40000, True)):
        pkt = w.ipv6(src, dst, 0, ext + ext2 + w.udp(sp, dp, w.dns_msg(9, "a.corp", 28,
                                                                      response=resp)))
        hdr = b"\x00" * 12 + b"\x88\xa8\x00\x0a\x81\x00\x00\x14\x86\xdd"
        frames.append((1.0, hdr + pkt))
    acts, stats = decode(w.pcap(frames))
    assert stats.skipped == 0
    assert acts[0].src_ip == "fd00::50"
    assert acts[0].fields["qtype_name"] == "AAAA"


def _kerberos_session(order: list[int], dup: bool = False, drop: int | None = None) -> bytes:
    req = w.kdc_req(10, "CORP.LOCAL", "krbtgt/CORP.LOCAL", cname="alice")
    rep = w.kdc_rep(11, "CORP.LOCAL", "alice", w.ticket("CORP.LOCAL", "krbtgt/CORP.LOCAL", 18,
                                                        b"x" * 3000))
    s = w.TcpSession(C, 51000, DC, 88)
    s.send(True, len(req).to_bytes(4, "big") + req)
    s.send(False, len(rep).to_bytes(4, "big") + rep, mss=500)
    s.fin()
    head, data, tail = s.frames[:4], s.frames[4:-3], s.frames[-3:]
    shuffled = [data[i] for i in order if i != drop]
    if dup:
        shuffled.insert(2, data[1])
    return w.pcap(head + shuffled + tail)


def test_tcp_out_of_order_and_retransmissions() -> None:
    """Segments arriving out of order and twice still give one exchange with the right ticket."""
    acts, stats = decode(_kerberos_session([1, 0, 3, 2, 5, 4, 6], dup=True))
    (a,) = acts
    assert a.outcome == "success"
    assert a.fields["ticket_fingerprint"] == w.fp(b"x" * 3000)
    assert stats.weirds.get("tcp_retransmitted_segments") == 1


def test_tcp_gap_is_counted_and_request_still_reported() -> None:
    """A lost reply segment: the gap is counted, the request is emitted with outcome None."""
    acts, stats = decode(_kerberos_session(list(range(7)), drop=3))
    (a,) = acts
    assert a.outcome is None
    assert a.actor is not None
    assert a.actor.name == "alice"
    assert stats.weirds["tcp_content_gap"] == 1


def test_midstream_pickup_without_syn() -> None:
    """No handshake captured: client and server come from the well-known port."""
    data = _kerberos_session(list(range(7)))

    # drop the three handshake frames (records 1..3) from the pcap
    pos, keep = 24, [data[:24]]
    for i in range(100):
        if pos >= len(data):
            break
        n = struct.unpack_from("<I", data, pos + 8)[0]
        if i >= 3:
            keep.append(data[pos : pos + 16 + n])
        pos += 16 + n
    acts, _ = decode(b"".join(keep))
    (a,) = acts
    assert a.src_ip == C
    assert a.dst_port == 88
    assert a.outcome == "success"


def test_not_a_capture() -> None:
    """Garbage: fatal says why, nothing raised."""
    acts, stats = decode(b"hello world, not a capture")
    assert acts == []
    assert "not a pcap" in (stats.fatal or "")


def _shared_pcap() -> bytes:
    z = SHARED / "otrf-dev/lateral_movement/network/empire_smbexec_dcerpc_smb_svcctl.zip"
    if not z.exists():
        pytest.skip("../shared/data is absent")
    with zipfile.ZipFile(z) as zf:
        return zf.read(next(m for m in zf.namelist() if "WORKSTATION5" in m))


def test_truncated_capture_keeps_what_was_decoded() -> None:
    """Cut a real pcap in the middle: activities before the cut survive, fatal says truncated."""
    data = _shared_pcap()
    full, _ = decode(data)
    cut, stats = decode(data[: len(data) // 2 + 7])
    assert stats.fatal is not None
    assert stats.fatal.startswith("truncated capture after frame ")
    frames = int(stats.fatal.rsplit(" ", 1)[1])
    assert 0 < frames == stats.records
    before = {a.uid for a in full if (a.origin.record or 0) <= frames // 2}
    assert before
    assert before <= {a.uid for a in cut} | {a.uid for a in full if a.outcome is None}
    assert any(a.kind == "ldap.search" for a in cut)


def test_feed_at_reads_frames_in_place_like_feed() -> None:
    """``feed_at`` (frames read inside the capture's buffer, no copy) decodes exactly what
    ``feed`` decodes from the copied frame: the synthetic DC capture frame by frame, each frame
    placed at an odd offset of a larger buffer with garbage around it."""
    from dcwatch.protocols.net.decoder import PacketDecoder
    from dcwatch.sources.pcap import _pcap, _Reader

    data = (REPO / "tests" / "data" / "protocols" / "synthetic-dc.pcap").read_bytes()
    frames: list[tuple[float, bytes]] = []

    class Recorder(PacketDecoder):
        def feed_at(self, ts: float, linktype: int, buf: bytes, start: int, stop: int,
                    frame_no: int) -> None:
            frames.append((ts, buf[start:stop]))

    list(_pcap(_Reader(io.BytesIO(data)), SourceStats("t"), Recorder("t", SourceStats("t"))))
    assert len(frames) > 50

    def run(in_place: bool) -> tuple[list[dict[str, object]], SourceStats]:
        stats = SourceStats("t")
        d = PacketDecoder("t.pcap", stats)
        for i, (ts, frame) in enumerate(frames, 1):
            if in_place:
                pad = b"\xaa" * (i % 7 + 1)
                d.feed_at(ts, 1, pad + frame + pad, len(pad), len(pad) + len(frame), i)
            else:
                d.feed(ts, 1, frame, i)
        d.finish()
        return [a.to_dict() for a in d.drain()], stats

    (copied, s1), (in_place, s2) = run(False), run(True)
    assert copied
    assert in_place == copied
    assert (s2.records, s2.skipped, s2.weirds) == (s1.records, s1.skipped, s1.weirds)


def test_snaplen_cut_segment_is_a_gap_not_a_stuck_stream() -> None:
    """Regression: a segment cut by the snap length (IP length > captured bytes) left a hole
    that never filled, so every later segment of that direction waited in the out-of-order
    buffer until it overflowed (tcpdump -s 256 captures decoded nothing). Now the uncaptured
    tail is a content gap at once and the connection's next operation decodes in order."""
    search = w.ldap_search("DC=corp,DC=local", 2, w.f_present("objectClass"), ("cn",))
    entry = w.ldap_msg(1, w.tlv(0x64, w.octets(b"CN=a,DC=corp,DC=local")
                                + w.seq(w.partial_attr("cn", b"a" * 1500))))
    done = w.tlv(0x65, w.enum(0) + w.octets(b"") + w.octets(b""))  # SearchResultDone
    s = w.TcpSession(C, 51000, DC, 389)
    s.send(True, w.ldap_msg(1, search))
    s.send(False, entry + w.ldap_msg(1, done), mss=500)
    last_of_first = len(s.frames) - 1
    s.send(True, w.ldap_msg(2, search))
    s.send(False, w.ldap_msg(2, done))
    s.fin()
    frames = list(s.frames)
    ts, frame = frames[last_of_first]
    frames[last_of_first] = (ts, frame[: 14 + 20 + 20 + 10])  # snap length: the rest is lost
    lost = len(frame) - (14 + 20 + 20 + 10)
    acts, stats = decode(w.pcap(frames))
    assert stats.weirds.get("tcp_snaplen_cut_segments") == 1
    assert stats.weirds.get("tcp_content_gap_bytes") == lost
    assert "tcp_out_of_order_overflow" not in stats.weirds
    searches = {a.fields["message_id"]: a for a in acts if a.kind == "ldap.search"}
    assert searches[1].outcome is None  # its SearchResultDone was in the lost bytes
    assert searches[2].outcome == "success"


def test_snaplen_cut_delivers_the_next_segment_at_once() -> None:
    """TcpConnection level: after a cut segment the next in-order one reaches the analyzer
    immediately (before, it waited behind the hole)."""
    from dcwatch.protocols.flow import FlowInfo
    from dcwatch.protocols.net.tcp import ACK, TcpConnection

    seen: list[tuple[str, bool, int]] = []

    class Rec:
        def data(self, fc: bool, p: bytes) -> None:
            seen.append(("data", fc, len(p)))

        def gap(self, fc: bool, n: int) -> None:
            seen.append(("gap", fc, n))

        def close(self) -> None:
            seen.append(("close", True, 0))

    counters: dict[str, int] = {}
    conn = TcpConnection(FlowInfo("tcp", C, 1, DC, 2, "t"), Rec(), 0.0, counters)
    conn.segment(False, 1000, ACK, b"a" * 100, cut=50)
    conn.segment(False, 1150, ACK, b"b" * 10)
    assert seen == [("data", False, 100), ("gap", False, 50), ("data", False, 10)]
    assert counters["tcp_content_gap_bytes"] == 50


def test_activities_of_one_frame_get_distinct_uids() -> None:
    """Regression: two LDAP searches pipelined in one segment (same kind, frame, addresses and
    actor) shared one uid, so the store kept only the first. The repeat's ``sub`` is suffixed
    and the uids stay the same when the capture is read again."""
    search = w.ldap_search("DC=corp,DC=local", 2, w.f_present("objectClass"), ("cn",))
    done = w.tlv(0x65, w.enum(0) + w.octets(b"") + w.octets(b""))
    s = w.TcpSession(C, 51000, DC, 389)
    s.send(True, w.ldap_msg(1, search) + w.ldap_msg(2, search))  # one segment
    s.send(False, w.ldap_msg(1, done) + w.ldap_msg(2, done))
    s.fin()
    data = w.pcap(s.frames)
    acts, stats = decode(data)
    searches = [a for a in acts if a.kind == "ldap.search"]
    assert [a.fields["message_id"] for a in searches] == [1, 2]
    assert searches[0].origin.record == searches[1].origin.record
    assert len({a.uid for a in acts}) == len(acts)
    assert stats.weirds.get("activity_uid_disambiguated") == 1
    assert [a.uid for a in decode(data)[0]] == [a.uid for a in acts]  # stable on re-read
    assert all(a.uid == a.compute_uid() for a in acts)


def _odd_frames(ts: float) -> list[tuple[float, bytes]]:
    """TCP frames near the reader's early drop that it must not drop (or must): IP options,
    fragments, a total length below 40, served ports either way round, IPv6, a short frame."""
    seg = w.tcp(50000, 8080, 1, 1, 0x18, b"x" * 30)
    opts = bytearray(w.ipv4(C, DC, 6, b"\x01\x01\x01\x01" + seg))
    opts[0] = 0x46  # IHL 6: 4 bytes of options before the segment
    short = bytearray(w.ipv4(C, DC, 6, seg))
    short[2:4] = (39).to_bytes(2, "big")
    frames = [w.ipv4(C, DC, 6, seg), w.ipv4(C, DC, 6, seg, frag=0x2000), bytes(opts),
              bytes(short), w.ipv4(C, DC, 6, w.tcp(50001, 88, 1, 1, 0x18, b"\x00" * 8)),
              w.ipv4(DC, C, 6, w.tcp(445, 50002, 1, 1, 0x18, b"\x00" * 8)),
              w.ipv6(b"\x00" * 15 + b"\x01", b"\x00" * 15 + b"\x02", 6, seg)]
    return [(ts + i, w.ether(f)) for i, f in enumerate(frames)] + [(ts + 9, w.ether(b"E"))]


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("name", ["synthetic-dc.pcap", "smb1-ms17-010.pcap", "shared"])
def test_reader_drop_is_feed_at_drop(name: str, big: bool) -> None:
    """The pcap reader drops frames for ports no analyzer serves before calling the decoder;
    what comes out (activities, their order, counters, weirds) must be exactly what feeding
    every frame to ``PacketDecoder.feed`` gives: a real capture with dynamic RPC ports learned
    from the endpoint mapper, the synthetic one, plus frames next to the drop's conditions,
    in both byte orders."""
    from dcwatch.protocols.net.decoder import PacketDecoder

    if name == "shared":
        data = _shared_pcap()
    else:
        data = (REPO / "tests" / "data" / "protocols" / name).read_bytes()
    linktype, frames = w.read_pcap(data)
    frames += _odd_frames(frames[-1][0] + 1)
    stats = SourceStats("t")
    d = PacketDecoder("t.pcap", stats)
    for i, (ts, frame) in enumerate(frames, 1):
        d.feed(ts, linktype, frame, i)
    d.finish()
    want = [a.to_dict() for a in d.drain()]
    got, st = decode(w.pcap(frames, linktype, big_endian=big))
    assert [a.to_dict() for a in got] == want
    assert (st.records, st.skipped, st.first_error, st.weirds) == \
        (stats.records, stats.skipped, stats.first_error, stats.weirds)
    assert want


@pytest.mark.parametrize("name", ["synthetic-dc.pcap", "smb1-ms17-010.pcap", "shared"])
def test_pcapng_reader_drop_is_feed_at_drop(name: str) -> None:
    """pcapng (Wireshark's format) reads exactly as feeding every frame: activities, order,
    counters and weirds, with a raw-IP interface beside the Ethernet one. (pcapng frames are
    not dropped early as pcap's are: measured, the block loop costs what the call saves.)"""
    from dcwatch.protocols.net.decoder import PacketDecoder

    if name == "shared":
        data = _shared_pcap()
    else:
        data = (REPO / "tests" / "data" / "protocols" / name).read_bytes()
    linktype, frames = w.read_pcap(data)
    frames += _odd_frames(frames[-1][0] + 1)
    raw_ip = [w.ipv4(C, DC, 6, w.tcp(50000, 8080, 1, 1, 0x18, b"y" * 20))]
    ticks = [round(ts * 1e6) for ts, _ in frames]
    stats = SourceStats("t")
    d = PacketDecoder("t.pcap", stats)  # the name decode() reads the capture under
    n = 0
    for t, (_, frame) in zip(ticks, frames, strict=True):
        n += 1
        d.feed(t * 1e-6, linktype, frame, n)
        if n == 5:  # a raw-IP frame on the second interface, in the middle
            n += 1
            d.feed((t + 1) * 1e-6, 101, raw_ip[0], n)
    d.finish()
    want = [a.to_dict() for a in d.drain()]
    packets = []
    for i, (t, (_, frame)) in enumerate(zip(ticks, frames, strict=True), 1):
        packets.append((0, t, frame))
        if i == 5:
            packets.append((1, t + 1, raw_ip[0]))
    got, st = decode(w.pcapng([(linktype, None), (101, None)], packets))
    assert [a.to_dict() for a in got] == want
    assert (st.records, st.skipped, st.first_error, st.weirds) == \
        (stats.records, stats.skipped, stats.first_error, stats.weirds)
    assert want


def test_sweep_skips_only_scans_that_close_nothing() -> None:
    """``_sweep`` scans a flow table only when one of its flows may be idle. Against a decoder
    that scans both tables at every sweep (as before), on DNS flows and Kerberos connections
    spread over an hour, capture time going backwards now and then: same activities in the
    same order, and far fewer scans."""
    import random

    from dcwatch.protocols.net.decoder import TCP_IDLE, UDP_IDLE, PacketDecoder

    scans: dict[str, int] = {}

    class Counting(PacketDecoder):
        def _scan(self, table: dict, now: float, idle: float, tcp: bool) -> float:  # type: ignore[type-arg]
            scans[type(self).__name__] = scans.get(type(self).__name__, 0) + 1
            return super()._scan(table, now, idle, tcp)

    class ScanAlways(Counting):
        def _sweep(self, now: float) -> None:
            self.next_sweep = now + 10.0
            self._scan(self.tcp, now, TCP_IDLE, True)
            self._scan(self.udp, now, UDP_IDLE, False)

    rnd = random.Random(7)
    frames: list[tuple[float, bytes]] = []
    t = 1.6e9
    for i in range(400):
        t += rnd.choice([0.5, 3.0, 20.0, 70.0]) if i % 17 else -rnd.choice([5.0, 65.0])
        port = 40000 + i  # a flow per query, as clients do
        frames.append((t, w.ether(w.ipv4(C, DC, 17, w.udp(port, 53, w.dns_msg(i, "a.b", 1))))))
        if i % 3:
            r = w.dns_msg(i, "a.b", 1, response=True, answers=1)
            frames.append((t + 0.1, w.ether(w.ipv4(DC, C, 17, w.udp(53, port, r)))))
        if i % 25 == 0:  # a Kerberos exchange on its own connection, some left open
            req = w.kdc_req(10, "CORP.LOCAL", "krbtgt/CORP.LOCAL", cname=f"u{i}")
            s = w.TcpSession(C, 51000 + i, DC, 88)
            s.send(True, len(req).to_bytes(4, "big") + req)
            if i % 50:
                s.fin()
            frames += [(t + 0.2 + k * 0.01, f) for k, (_, f) in enumerate(s.frames)]

    def run(cls: type[PacketDecoder]) -> tuple[list[dict[str, object]], list[tuple[int, int]]]:
        d = cls("t.pcap", SourceStats("t"))
        open_flows = []  # after every frame: flows are closed at the same frames
        for i, (ts, frame) in enumerate(frames, 1):
            d.feed(ts, 1, frame, i)
            open_flows.append((len(d.tcp), len(d.udp)))
        d.finish()
        return [a.to_dict() for a in d.drain()], open_flows

    want = run(ScanAlways)
    assert len({a["kind"] for a in want[0]}) == 2
    assert run(Counting) == want
    assert 0 < scans["Counting"] < scans["ScanAlways"] / 2
