"""Registry.pol (MS-GPREG PReg) parsing, and the SMB analyzer keeping what a client writes."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from dcwatch.errors import Malformed
from dcwatch.protocols.smb import preg

DEFENDER = "Software\\Policies\\Microsoft\\Windows Defender"
REC = Path(__file__).resolve().parents[1] / "data" / "recordings" / "gpo_defender_off" / "dc.pcap"


def test_round_trip_of_each_value_type() -> None:
    blob = preg.build([
        (DEFENDER, "DisableAntiSpyware", preg.REG_DWORD, struct.pack("<I", 1)),
        ("Software\\Policies\\X", "Name", preg.REG_SZ, "abc\x00".encode("utf-16-le")),
        ("Software\\Policies\\X", "**del.Old", preg.REG_SZ, b"\x00\x00"),
        ("Software\\Policies\\X", "Blob", preg.REG_BINARY, b"\x01\x02"),
    ])
    got = preg.parse(blob)
    assert got[0] == {"key": DEFENDER, "value": "DisableAntiSpyware", "type": 4, "data": 1}
    assert got[1]["data"] == "abc"
    assert got[2]["value"] == "**del.Old"
    assert got[3]["data"] == "0102"
    assert preg.parse(preg.build([])) == []


@pytest.mark.parametrize("blob", [
    b"",
    b"PReg\x02\x00\x00\x00",
    b"PReg\x01\x00\x00\x00[",
    preg.build([(DEFENDER, "V", 4, b"\x01\x00\x00\x00")])[:-5],
    b"PReg\x01\x00\x00\x00" + "[k\x00;v\x00;".encode("utf-16-le") + b"\x04\x00\x00\x00;\x00"
    + b"\xff\xff\x00\x00;\x00",
])
def test_bad_files_raise_malformed(blob: bytes) -> None:
    with pytest.raises(Malformed, match=r"registry\.pol"):
        preg.parse(blob)


def test_smb_write_of_registry_pol_is_parsed() -> None:
    """The lab's gpo_defender_off capture: the SMB2 WRITE of Machine\\Registry.pol reaches the
    file's smb.file_transfer activity as parsed policy entries."""
    if not REC.exists():
        pytest.skip("lab recording gpo_defender_off not present")
    from dcwatch.model.activity import ActivityKind as K
    from dcwatch.pipeline import ActivityStream

    pols = [a for a in ActivityStream([str(REC)]) if a.kind is K.SMB_FILE_TRANSFER
            and str(a.fields.get("path", "")).lower().endswith("registry.pol")]
    assert len(pols) == 1
    entries = pols[0].fields["registry_pol"]
    assert {(e["value"], e["data"]) for e in entries} == {
        ("DisableAntiSpyware", 1), ("DisableRealtimeMonitoring", 1),
        ("DisableBehaviorMonitoring", 1)}
