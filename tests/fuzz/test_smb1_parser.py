"""Hypothesis: every SMB1 decoder gives a message or an InputError, and the SmbAnalyzer survives
mutated SMB1 conversations (the messages of tests/data/protocols/smb1-ms17-010.pcap)."""

from __future__ import annotations

import contextlib
import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcwatch.errors import InputError
from dcwatch.protocols.flow import FlowInfo
from dcwatch.protocols.smb import SmbAnalyzer, smb1

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PCAP = Path(__file__).resolve().parents[1] / "data" / "protocols" / "smb1-ms17-010.pcap"


def _messages() -> list[bytes]:
    data = PCAP.read_bytes()
    out, off = [], 24
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        frame = data[off + 16 : off + 16 + incl]
        ihl = (frame[14] & 0x0F) * 4
        thl = (frame[14 + ihl + 12] >> 4) * 4
        payload = frame[14 + ihl + thl :]
        if payload[4:8] == b"\xffSMB":
            out.append(payload[4:])
        off += 16 + incl
    return out


MESSAGES = _messages()


def _decode_all(m: memoryview) -> None:
    h = smb1.parse_header(m)
    for cmd, off in smb1.andx_chain(m, h.command):
        if cmd == smb1.COM_SESSION_SETUP_ANDX:
            (smb1.session_setup_response if h.reply else smb1.session_setup_request)(
                m, off, h.unicode)
        elif cmd == smb1.COM_TREE_CONNECT_ANDX:
            if h.reply:
                smb1.tree_connect_response(m, off)
            else:
                smb1.tree_connect_request(m, off, h.unicode)
    if h.command in smb1.TRANS_NAMES:
        smb1.trans_request(m, h.command, h.unicode)
    if h.command == smb1.COM_NEGOTIATE:
        smb1.negotiate_dialects(m)
        smb1.negotiate_response_index(m)


@FUZZ
@given(st.sampled_from(MESSAGES), st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 255)),
                                           max_size=6), st.integers(0, 2000))
def test_decoders_raise_only_input_errors(msg: bytes, edits: list[tuple[int, int]],
                                          cut: int) -> None:
    b = bytearray(msg)
    for pos, val in edits:
        if pos < len(b):
            b[pos] = val
    with contextlib.suppress(InputError):
        _decode_all(memoryview(bytes(b[: max(cut, 4)])))


@FUZZ
@given(st.binary(max_size=200))
def test_random_bodies(body: bytes) -> None:
    for cmd in (0x72, 0x73, 0x75, 0x25, 0x32, 0xA0):
        for flags in (0x18, 0x98):
            hdr = struct.pack("<4sBIBHH8sHHHHH", b"\xffSMB", cmd, 0, flags, 0xC807, 0,
                              bytes(8), 0, 1, 2, 3, 4)
            with contextlib.suppress(InputError):
                _decode_all(memoryview(hdr + body))


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(MESSAGES) - 1), st.integers(0, 2000),
                          st.integers(0, 255)), max_size=10))
def test_analyzer_survives_mutations(edits: list[tuple[int, int, int]]) -> None:
    msgs = [bytearray(m) for m in MESSAGES]
    for i, pos, val in edits:
        if pos < len(msgs[i]):
            msgs[i][pos] = val
    out: list[object] = []
    an = SmbAnalyzer(FlowInfo("tcp", "10.0.0.66", 50101, "10.0.0.10", 445, "fuzz"), out.append)
    for m in msgs:
        an.data(not (m[9] & 0x80), struct.pack(">I", len(m)) + bytes(m))
    an.close()
    assert an.ctx.weirds.get("smb_analyzer_error", 0) == 0

