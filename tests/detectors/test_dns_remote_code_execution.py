"""2036 Remote code execution over DNS: oversized SIG records and inconsistent RDLENGTHs."""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import pytest
from tests.conftest import RECORDINGS
from tests.detectors.netutil import alerts_of, ids_of, recording

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "protocols"))
import wire as w

DC, EVIL = "10.0.0.10", "198.51.100.53"


def name(n: str) -> bytes:
    return b"".join(bytes([len(x)]) + x.encode() for x in n.split(".")) + b"\x00"


def sig_response(sig_len: int, rdlen_extra: int = 0) -> bytes:
    """A response to a SIG query whose answer's signer name is a pointer to the question."""
    q = name("a" * 60 + ".evil.example") + struct.pack(">HH", 24, 1)
    rdata = struct.pack(">HBBIIIH", 1, 5, 2, 60, 0, 0, 1) + b"\xc0\x0c" + b"\x41" * sig_len
    rr = b"\xc0\x0c" + struct.pack(">HHIH", 24, 1, 60, len(rdata) + rdlen_extra) + rdata
    return struct.pack(">HHHHHH", 7, 0x8180, 1, 1, 0, 0) + q + rr


def capture(tmp_path: Path, response: bytes, client: str = DC, server: str = EVIL) -> Path:
    query = struct.pack(">HHHHHH", 7, 0x0100, 1, 0, 0, 0) + name("a" * 60 + ".evil.example") \
        + struct.pack(">HH", 24, 1)
    s = w.TcpSession(client, 50111, server, 53, t0=1.7e9)
    s.send(True, struct.pack(">H", len(query)) + query)
    s.send(False, struct.pack(">H", len(response)) + response)
    s.fin()
    p = tmp_path / "dns.pcap"
    p.write_bytes(w.pcap(s.frames))
    return p


def test_oversized_sig_response_over_tcp_fires(tmp_path: Path) -> None:
    alerts = alerts_of(capture(tmp_path, sig_response(65200)), 2036)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.description.startswith(f"Over DNS, {EVIL} tried to execute code remotely on {DC}")
    assert "compressed signer name" in a.description
    assert a.evidence["records"]["sig_max_expanded"] > 65000
    roles = {e.role: e.name for e in a.entities}
    assert roles == {"attacker DNS host": EVIL, "target domain controller": DC}


def test_rdlength_past_the_message_fires(tmp_path: Path) -> None:
    alerts = alerts_of(capture(tmp_path, sig_response(5000, rdlen_extra=3000)), 2036)
    assert len(alerts) == 1
    assert "runs past the end" in alerts[0].description


def test_ordinary_large_responses_stay_quiet(tmp_path: Path) -> None:
    assert 2036 not in ids_of(capture(tmp_path, sig_response(300)))  # a real-sized signature
    txt = struct.pack(">HHHHHH", 7, 0x8180, 1, 30, 0, 0) + name("big.example") + \
        struct.pack(">HH", 16, 1) + b"".join(
            b"\xc0\x0c" + struct.pack(">HHIH", 16, 1, 60, 256) + b"\xff" + b"t" * 255
            for _ in range(30))
    assert 2036 not in ids_of(capture(tmp_path, txt))


def test_expanded_size_counts_octets_of_binary_labels(tmp_path: Path) -> None:
    # a signer of non-printable bytes (SIGRed's pointer lands on header and signature bytes):
    # 4 label bytes + length + root = 6 octets, not the 16 characters of its \\xNN rendering
    q = name("9.evil.example") + struct.pack(">HH", 24, 1)
    rdata = struct.pack(">HBBIIIH", 1, 5, 0, 16, 0, 0, 1) + b"\x04\xff\xfe\xfd\xfc\x00" + \
        b"\x33" * 65000
    rr = b"\xc0\x0c" + struct.pack(">HHIH", 24, 1, 16, len(rdata)) + rdata
    resp = struct.pack(">HHHHHH", 7, 0x8400, 1, 1, 0, 0) + q + rr
    alerts = alerts_of(capture(tmp_path, resp), 2036)
    assert len(alerts) == 1
    assert alerts[0].evidence["records"]["sig_max_expanded"] == len(rdata)
    assert "past 65535" not in alerts[0].description


def test_pointer_signer_size_is_rdlength_plus_expansion(tmp_path: Path) -> None:
    alerts = alerts_of(capture(tmp_path, sig_response(65200)), 2036)
    # RDATA 18 + 2 + 65200; the 2-byte pointer expands to the 75-octet question name
    assert alerts[0].evidence["records"]["sig_max_expanded"] == 18 + 65200 + 75


def test_sigred_recording_fires() -> None:
    pcap = recording("dns_sigred")
    alerts = alerts_of(pcap, 2036)
    assert len(alerts) == 1
    a = alerts[0]
    roles = {e.role: (e.name, e.ip) for e in a.entities}
    assert roles == {"attacker DNS host": ("WS1", "10.77.0.21"),
                     "target domain controller": ("DC01", "10.77.0.10")}
    assert a.evidence["query"] == "9.dnsupd-cdn.net"
    assert a.evidence["records"]["sig_max_expanded"] > 0xFFFF
    assert "overflows 16 bits" in a.description


@pytest.mark.parametrize("scenario", sorted(p.name for p in RECORDINGS.iterdir()
                                            if p.is_dir() and p.name != "dns_sigred"))
def test_recordings_stay_quiet(scenario: str) -> None:
    pcap = recording(scenario)
    assert 2036 not in ids_of(pcap)
