"""The lab's recordings (tests/data/recordings, made by lab/run.py) are complete and well formed.

These checks need no lab. ``test_lab_builds_and_records`` really builds the Samba AD lab and
records one scenario; it needs root and runs only with DCW_LAB=1 (``sudo DCW_LAB=1 pytest -m
lab``).
"""

from __future__ import annotations

import csv
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RECORDINGS = REPO / "tests" / "data" / "recordings"
COLUMNS = ["file", "expected_external_ids", "key_entities", "notes", "tolerated_external_ids"]
ID_LIST = re.compile(r"^(\*|\d{4}(;\d{4})*)?$")
MB = 1024 * 1024

SCENARIO_DIRS = (
    sorted(p for p in RECORDINGS.iterdir() if p.is_dir() and not p.name.startswith("."))
    if RECORDINGS.is_dir()
    else []
)


def _need_recordings() -> None:
    if not (RECORDINGS / "labels.csv").exists():
        pytest.skip("no lab recordings")


def _rows(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == COLUMNS, path
        return list(reader)


def _pcap_packets(path: Path) -> int:
    data = path.read_bytes()
    assert data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"), f"{path}: not a pcap"
    off, n = 24, 0
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        off += 16 + incl
        n += 1
    assert off == len(data), f"{path}: truncated record"
    return n


def test_merged_labels_point_at_existing_files() -> None:
    _need_recordings()
    rows = _rows(RECORDINGS / "labels.csv")
    assert rows
    for row in rows:
        assert (RECORDINGS / row["file"]).is_file(), row["file"]
        assert ID_LIST.match(row["expected_external_ids"]), row
        assert ID_LIST.match(row["tolerated_external_ids"]), row
        assert row["notes"].strip(), row["file"]
        exp = set(filter(None, row["expected_external_ids"].split(";")))
        tol = set(filter(None, row["tolerated_external_ids"].split(";")))
        assert not exp & tol, f"{row['file']}: an ID is both expected and tolerated"


@pytest.mark.parametrize("scenario", SCENARIO_DIRS, ids=lambda p: p.name)
def test_scenario_folder_is_complete(scenario: Path) -> None:
    for name in ("dc.pcap", "samba-audit.jsonl", "labels.csv", "README.md"):
        assert (scenario / name).is_file(), f"{scenario.name}/{name} missing"
    assert _pcap_packets(scenario / "dc.pcap") > 0
    local = {r["file"]: r for r in _rows(scenario / "labels.csv")}
    assert set(local) == {"dc.pcap", "samba-audit.jsonl"}
    merged = {r["file"]: r for r in _rows(RECORDINGS / "labels.csv")}
    for name, row in local.items():
        assert merged.get(f"{scenario.name}/{name}", {}) == {
            **row,
            "file": f"{scenario.name}/{name}",
        }, f"{scenario.name}/{name}: per-scenario and merged labels differ"
    readme = (scenario / "README.md").read_text()
    assert "`dc.pcap`: tool tcpdump" in readme
    assert "`samba-audit.jsonl`: tool Samba" in readme
    assert "impacket" in readme
    assert "Samba" in readme


@pytest.mark.parametrize("scenario", SCENARIO_DIRS, ids=lambda p: p.name)
def test_audit_lines_are_samba_json_records(scenario: Path) -> None:
    for line in (scenario / "samba-audit.jsonl").read_text().splitlines():
        rec = json.loads(line)
        assert {"timestamp", "type"} <= set(rec), line[:80]
        assert rec["type"] in rec, line[:80]  # Samba nests the body under its type


def test_sizes() -> None:
    _need_recordings()
    kc = RECORDINGS / "killchain"
    assert sum(f.stat().st_size for f in kc.iterdir()) <= 5 * MB
    total = sum(f.stat().st_size for f in RECORDINGS.rglob("*") if f.is_file())
    assert total <= 15 * MB


def test_killchain_audit_shows_the_rc4_overpass_the_hash() -> None:
    path = RECORDINGS / "killchain" / "samba-audit.jsonl"
    if not path.exists():
        pytest.skip("killchain recording not present")
    kdc = [
        json.loads(line)["Authentication"]
        for line in path.read_text().splitlines()
        if '"Kerberos KDC"' in line
    ]
    rc4 = {a["clientAccount"] for a in kdc if a.get("passwordType") == "arcfour-hmac-md5"}
    assert rc4 == {"hd.admin@CONTOSO.LOCAL"}


@pytest.mark.lab
@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("DCW_LAB") != "1", reason="set DCW_LAB=1 (needs root)")
def test_lab_builds_and_records(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    r = subprocess.run(
        [
            sys.executable,
            str(REPO / "lab" / "run.py"),
            "--scenario",
            "dns_axfr",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert _pcap_packets(tmp_path / "dns_axfr" / "dc.pcap") > 0
    assert [row["file"] for row in _rows(tmp_path / "labels.csv")] == [
        "dns_axfr/dc.pcap",
        "dns_axfr/samba-audit.jsonl",
    ]
