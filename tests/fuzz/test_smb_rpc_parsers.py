"""Hypothesis fuzzing of the NTLM, GSS-API, SMB and DCE/RPC parsers and analyzers.

Parse functions raise only dcwatch InputError subclasses; analyzers never raise (they count
malformed input in FlowContext). Seeds are real payloads (OTRF captures, when present) and
synthetic ones, mutated byte-wise.
"""

from __future__ import annotations

import contextlib
import functools
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dcwatch.errors import InputError
from dcwatch.protocols import gssapi, ntlm
from dcwatch.protocols.dcerpc import DceRpcTcpAnalyzer, rpc, stubs
from dcwatch.protocols.dcerpc.ndr import NdrReader
from dcwatch.protocols.flow import FlowContext, FlowInfo
from dcwatch.protocols.smb import SmbAnalyzer
from dcwatch.protocols.smb import smb2 as S

from ..protocols.smbrpc_streams import PCAPS, pcap_bytes, tcp_segments

FUZZ = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@functools.cache
def real_payloads() -> tuple[bytes, ...]:
    """TCP payloads of SMB/RPC flows from the OTRF captures (empty when data is absent)."""
    out: list[bytes] = []
    for name in PCAPS:
        got = pcap_bytes(name)
        if got is None:
            continue
        for seg in tcp_segments(got[1]):
            payload = seg[-1]
            if payload and (seg[3] in (445, 135) or seg[5] in (445, 135) or seg[3] > 49000):
                out.append(bytes(payload))
    return tuple(out[:400])


SEEDS = (
    ntlm.SIGNATURE + struct.pack("<I", 3) + bytes(60),
    b"\x60\x28\x06\x06\x2b\x06\x01\x05\x05\x02\xa0\x1e\x30\x1c\xa0\x0e\x30\x0c\x06\x0a"
    b"\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a\xa2\x0a\x04\x08NTLMSSP\x00",
    bytes([5, 0, 11, 3, 0x10, 0, 0, 0]) + struct.pack("<HHI", 72, 0, 1) + bytes(56),
)


def mutate(data: st.DataObject, base: bytes) -> bytes:
    """Flip, cut or splice a few bytes of ``base``."""
    buf = bytearray(base)
    for _ in range(data.draw(st.integers(0, 8))):
        if not buf:
            break
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(buf)))
    return bytes(buf[:cut]) if data.draw(st.booleans()) else bytes(buf)


def seeds() -> tuple[bytes, ...]:
    return SEEDS + real_payloads()


def _only_input_errors(fn, blob: bytes) -> None:
    with contextlib.suppress(InputError):
        fn(blob)


@FUZZ
@given(st.data())
def test_ntlm_gssapi_only_input_errors(data: st.DataObject) -> None:
    base = data.draw(st.sampled_from(seeds()))
    blob = mutate(data, base) if data.draw(st.booleans()) else data.draw(st.binary(max_size=300))
    _only_input_errors(ntlm.parse, blob)
    _only_input_errors(gssapi.unwrap, blob)
    idx = blob.find(b"NTLMSSP\x00")
    if idx >= 0:
        _only_input_errors(ntlm.parse, blob[idx:])


@FUZZ
@given(st.data())
def test_rpc_pdu_and_stub_decoders_only_input_errors(data: st.DataObject) -> None:
    blob = mutate(data, data.draw(st.sampled_from(seeds())))

    def pdu(b: bytes) -> None:
        p = rpc.parse_pdu(memoryview(b))
        for f in (
            rpc.parse_bind,
            rpc.parse_bind_ack,
            rpc.parse_request,
            rpc.parse_response,
            rpc.parse_fault,
        ):
            _only_input_errors(f, p)

    _only_input_errors(pdu, blob)
    for table in (stubs.REQUESTS, stubs.RESPONSES):
        for ops in table.values():
            for dec in ops.values():
                for ndr64 in (False, True):
                    _only_input_errors(lambda b, d=dec, n=ndr64: d(NdrReader(b, True, n)), blob)


def _flow(port: int) -> FlowInfo:
    return FlowInfo("tcp", "10.0.0.5", 50000, "10.0.0.1", port, "fuzz", context=FlowContext())


@FUZZ
@given(st.data())
def test_analyzers_never_raise(data: st.DataObject) -> None:
    chunks = [
        mutate(data, data.draw(st.sampled_from(seeds())))
        for _ in range(data.draw(st.integers(1, 6)))
    ]
    out: list = []
    for cls, port in ((SmbAnalyzer, 445), (DceRpcTcpAnalyzer, 135)):
        an = cls(_flow(port), out.append)
        for i, c in enumerate(chunks):
            if cls is SmbAnalyzer and data.draw(st.booleans()):
                c = struct.pack(">I", len(c)) + c  # framed, so the SMB parsers see it
            an.data(i % 2 == 0, c)
            if data.draw(st.integers(0, 9)) == 0:
                an.gap(i % 2 == 0, 10)
        an.close()
        # the last-resort boundary catch must never be what saved us: only InputErrors
        weirds = an.ctx.weirds if hasattr(an, "ctx") else an.conn.ctx.weirds
        assert "smb_analyzer_error" not in weirds
        assert "dcerpc_analyzer_error" not in weirds
    for a in out:
        a.to_dict()


@FUZZ
@given(st.binary(min_size=64, max_size=400))
def test_smb2_parsers_only_input_errors(blob: bytes) -> None:
    m = memoryview(S.PROTOCOL_ID + struct.pack("<H", 64) + blob)
    for f in (
        S.parse_header,
        S.negotiate_request,
        S.negotiate_response,
        S.session_setup_request,
        S.session_setup_response,
        S.tree_connect_request,
        S.create_request,
        S.create_response,
        S.read_request,
        S.write_request_header,
        S.ioctl_request,
        S.ioctl_response,
        S.close_request,
    ):
        _only_input_errors(f, m)
