"""Shared helpers for the SMB/DCE-RPC oracle tests: load tshark oracles and run captures once."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import pytest

from .smbrpc_streams import Run, pcap_bytes, run_smb_rpc

ORACLES = Path(__file__).resolve().parents[1] / "data" / "protocols" / "smb_rpc"
NAMES = ["dcsync", "samr", "sc_query", "smbexec_ws5", "smbexec_ws6"]


def oracle(name: str) -> dict[str, Any]:
    """The committed tshark oracle for capture ``name``."""
    return json.loads((ORACLES / f"{name}.tshark.json").read_text())


@functools.cache
def _run(name: str) -> Run | None:
    got = pcap_bytes(name)
    if got is None:
        return None
    return run_smb_rpc(*got)


def run_or_skip(name: str) -> Run:
    """Run capture ``name`` through SmbAnalyzer/DceRpcTcpAnalyzer, or skip when data is absent."""
    r = _run(name)
    if r is None:
        pytest.skip("../shared/data (OTRF captures) is absent")
    return r


def by_frame(r: Run, kind: str) -> dict[int, list[Any]]:
    """Activities of one kind grouped by origin frame."""
    out: dict[int, list[Any]] = {}
    for a in r.activities:
        if a.kind.value == kind:
            out.setdefault(a.origin.record, []).append(a)
    return out


def frames_with(o: dict[str, Any], field: str, **equal: str) -> dict[int, dict[str, list[str]]]:
    """Oracle frames carrying ``field`` (and the given field==value conditions)."""
    out = {}
    for k, row in o["frames"].items():
        if field not in row:
            continue
        if all(v in row.get(f.replace("__", "."), []) for f, v in equal.items()):
            out[int(k)] = row
    return out
