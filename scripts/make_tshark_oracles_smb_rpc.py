#!/usr/bin/env python3
"""Write tshark oracles for the SMB / DCE-RPC / NTLM tests (dev-only; CI reads the JSON).

For each OTRF capture in ``<repo>/../shared/data`` (zips are read in memory and the capture is
written to a temporary directory, never into the repo) this runs tshark once and keeps, per
frame, the few fields the tests compare: NTLM user/domain/host, SMB2 command/tree/file name,
DCE/RPC bind UUIDs and opnums, svcctl service names and binary paths, the SAMR domain name, the
srvsvc session-enum level and the EPM TCP ports. Output: tests/data/protocols/smb_rpc/*.json.

Usage: python scripts/make_tshark_oracles_smb_rpc.py [--check]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO / ".." / "shared" / "data" / "otrf-dev"
OUT = REPO / "tests" / "data" / "protocols" / "smb_rpc"
CAPTURES = {
    "dcsync": ("credential_access/network/covenant_dcsync_dcerpc_drsuapi_DsGetNCChanges.zip", 0),
    "samr": ("discovery/network/empire_shell_samr_EnumDomainUsers.zip", 0),
    "sc_query": ("lateral_movement/network/covenant_sc_query_dcerpc_smb_svcctl.zip", 0),
    "smbexec_ws5": ("lateral_movement/network/empire_smbexec_dcerpc_smb_svcctl.zip", 0),
    "smbexec_ws6": ("lateral_movement/network/empire_smbexec_dcerpc_smb_svcctl.zip", 1),
}
FIELDS = [
    "ntlmssp.auth.username",
    "ntlmssp.auth.domain",
    "ntlmssp.auth.hostname",
    "smb2.cmd",
    "smb2.flags.response",
    "smb2.tree",
    "smb2.filename",
    "dcerpc.pkt_type",
    "dcerpc.cn_bind_to_uuid",
    "dcerpc.opnum",
    "svcctl.servicename",
    "svcctl.binarypathname",
    "svcctl.machinename",
    "samr.samr_LookupDomain.domain_name",
    "srvsvc.srvsvc_NetSessEnum.level",
    "epm.proto.tcp_port",
]


def tshark_version() -> str:
    """First line of ``tshark --version``."""
    out = subprocess.run(["tshark", "--version"], capture_output=True, text=True, check=True)
    return out.stdout.splitlines()[0]


def oracle(capture: Path) -> dict[str, dict[str, list[str]]]:
    """frame number -> {field: [values]} for frames where any field is present."""
    cmd = [
        "tshark",
        "-n",
        "-r",
        str(capture),
        "-T",
        "fields",
        "-E",
        "separator=\t",
        "-E",
        "occurrence=a",
        "-E",
        "aggregator=\x1f",
        "-e",
        "frame.number",
    ]
    for f in FIELDS:
        cmd += ["-e", f]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 2) or not proc.stdout:  # 2: the capture ends mid-packet
        raise RuntimeError(f"tshark failed on {capture}: {proc.stderr.strip()}")
    out = proc.stdout
    frames: dict[str, dict[str, list[str]]] = {}
    for line in out.splitlines():
        cols = line.split("\t")
        row = {f: v.split("\x1f") for f, v in zip(FIELDS, cols[1:], strict=False) if v}
        if row:
            frames[cols[0]] = row
    return frames


def main() -> int:
    """Regenerate (or with --check, compare) every oracle file."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--check", action="store_true", help="fail if a file would change")
    args = ap.parse_args()
    if not SHARED.exists():
        print(f"skip: {SHARED} is absent", file=sys.stderr)
        return 0
    OUT.mkdir(parents=True, exist_ok=True)
    version = tshark_version()
    changed = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (rel, index) in CAPTURES.items():
            with zipfile.ZipFile(SHARED / rel) as z:
                members = sorted(n for n in z.namelist() if n.endswith((".cap", ".pcap")))
                member = members[index]
                path = Path(tmp) / Path(member).name
                path.write_bytes(z.read(member))
            doc = {
                "capture": f"{Path(rel).name}!{member}",
                "tshark": version,
                "fields": FIELDS,
                "frames": oracle(path),
            }
            text = json.dumps(doc, indent=None, sort_keys=True, separators=(",", ":")) + "\n"
            target = OUT / f"{name}.tshark.json"
            if target.exists() and target.read_text() == text:
                continue
            changed += 1
            if not args.check:
                target.write_text(text)
                print(f"wrote {target.relative_to(REPO)} ({len(doc['frames'])} frames)")
    if args.check and changed:
        print(f"{changed} oracle file(s) out of date", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
