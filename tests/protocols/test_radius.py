"""RADIUS accounting decoder (RFC 2866) against its tshark oracle, plus error cases.

The fixture ``tests/data/protocols/radius-accounting.pcap`` is synthetic (generator beside it);
its oracle ``radius-accounting.tshark.json`` comes from scripts/make_tshark_oracles.py.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from dcwatch.errors import Malformed, Truncated
from dcwatch.model.activity import ActivityKind
from dcwatch.protocols import radius
from dcwatch.sources.base import SourceStats
from dcwatch.sources.pcap import read_capture

DATA = Path(__file__).resolve().parents[1] / "data" / "protocols"
PCAP = DATA / "radius-accounting.pcap"
ORACLE = DATA / "radius-accounting.tshark.json"


def udp_payloads(data: bytes) -> dict[int, bytes]:
    """Frame number -> UDP payload of an Ethernet/IPv4/UDP classic pcap."""
    out = {}
    off, n = 24, 1
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        frame = data[off + 16 : off + 16 + incl]
        ihl = (frame[14] & 0x0F) * 4
        out[n] = frame[14 + ihl + 8 :]
        off += 16 + incl
        n += 1
    return out


def ours(p: radius.RadiusPacket) -> dict[str, list[str]]:
    """Our packet in tshark's field terms."""
    d = {"radius.code": str(p.code), "radius.id": str(p.identifier),
         "radius.Acct_Status_Type": p.status_type, "radius.User_Name": p.user_name,
         "radius.NAS_IP_Address": p.nas_ip, "radius.NAS_Identifier": p.nas_identifier,
         "radius.Framed-IP-Address": p.framed_ip,
         "radius.Called_Station_Id": p.called_station_id,
         "radius.Calling_Station_Id": p.calling_station_id,
         "radius.Acct_Session_Id": p.session_id, "radius.Acct_Session_Time": p.session_time,
         "radius.Tunnel_Client_Endpoint": p.tunnel_client_endpoint}
    return {k: [str(v)] for k, v in d.items() if v is not None}


def test_agrees_with_tshark_oracle() -> None:
    oracle = json.loads(ORACLE.read_text())["frames"]
    payloads = udp_payloads(PCAP.read_bytes())
    assert len(oracle) == len(payloads) == 38
    for no, expected in oracle.items():
        assert ours(radius.parse(payloads[int(no)])) == expected, f"frame {no}"


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_oracle_is_current() -> None:
    out = subprocess.run(["tshark", "-r", str(PCAP), "-Y", "radius", "-T", "fields",
                          "-e", "radius.User_Name"], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    oracle = json.loads(ORACLE.read_text())["frames"]
    users = [v.get("radius.User_Name", [""])[0] for _, v in sorted(oracle.items(),
                                                                   key=lambda x: int(x[0]))]
    assert out[: len(users)] == users


def test_activities_from_the_capture() -> None:
    with PCAP.open("rb") as fh:
        acts = [a for a in read_capture(fh, str(PCAP), SourceStats(str(PCAP)))
                if a.kind is ActivityKind.RADIUS_ACCOUNTING]
    assert len(acts) == 19  # one per Accounting-Request; responses emit nothing
    start = acts[1]
    assert start.actor is not None
    assert (start.actor.name, start.actor.domain) == (
        "alice", "CONTOSO")
    assert start.fields["status"] == "Start"
    assert start.fields["calling_station_id"] == "203.0.113.10"
    assert start.fields["framed_ip"] == "172.16.5.21"
    assert start.fields["tunnel_client_endpoint"] == "203.0.113.10"  # RFC 2868 tag dropped
    assert (start.src_ip, start.dst_port, start.protocol) == ("10.0.0.5", 1813, "radius")
    bob = [a for a in acts if a.actor and a.actor.name == "bob"]
    assert bob
    assert bob[0].actor.domain == "contoso.local"
    assert acts[0].fields["status"] == "Accounting-On"
    assert acts[0].actor is None


def test_errors() -> None:
    with pytest.raises(Truncated, match="header needs 20 bytes"):
        radius.parse(b"\x04\x01\x00")
    with pytest.raises(Malformed, match="length 10 outside"):
        radius.parse(b"\x04\x01\x00\x0a" + bytes(16))
    with pytest.raises(Truncated, match="exceeds the 20 bytes captured"):
        radius.parse(b"\x04\x01\x00\x30" + bytes(16))
    with pytest.raises(Malformed, match="attribute 1 length 1"):
        radius.parse(b"\x04\x01\x00\x17" + bytes(16) + b"\x01\x01\x00")
    with pytest.raises(Malformed, match="address attribute 8 needs 4 bytes"):
        radius.parse(b"\x04\x01\x00\x17" + bytes(16) + b"\x08\x03\x00")
