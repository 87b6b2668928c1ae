"""Write tshark oracles for the protocol tests: ``tests/data/protocols/<name>.tshark.json``.

For every capture the tests decode (the otrf-dev network zips and the DNS-TXT capture under
``../shared/data``, plus the synthetic fixtures in ``tests/data/protocols``), runs
``tshark -r - -T json -e <fields>`` and keeps, per frame, only the fields the tests compare
(Kerberos msg_type/cname/sname/realm/etypes/error_code, LDAP baseObject and filter, DNS
qry.name/qry.type/rcode/answers). LDAP filter strings are tree labels in tshark, not fields, so
they come from a second ``-T json -J ldap`` pass. CI then needs no tshark.

    .venv/bin/python scripts/make_tshark_oracles.py
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data"
OUT = ROOT / "tests" / "data" / "protocols"
FIELDS = [
    "frame.number", "ip.proto", "ipv6.nxt",
    "kerberos.msg_type", "kerberos.CNameString", "kerberos.SNameString", "kerberos.realm",
    "kerberos.crealm", "kerberos.ENCTYPE", "kerberos.etype", "kerberos.error_code",
    "kerberos.padata_type",
    "ldap.messageID", "ldap.protocolOp", "ldap.baseObject", "ldap.scope", "ldap.mechanism",
    "ldap.resultCode",
    "dns.id", "dns.flags.response", "dns.qry.name", "dns.qry.type", "dns.flags.rcode",
    "dns.count.answers",
]
DNS_PCAP = "cmds_over_dns_txt_queries_and_reponses.pcap"
# RADIUS accounting fixtures (tests/data/protocols/radius-*.pcap) get their own field list, so
# the other oracles stay as they were. tshark spells some RADIUS fields with hyphens.
RADIUS_FIELDS = [
    "frame.number", "radius.code", "radius.id", "radius.Acct_Status_Type", "radius.User_Name",
    "radius.NAS_IP_Address", "radius.NAS_Identifier", "radius.Framed-IP-Address",
    "radius.Called_Station_Id", "radius.Calling_Station_Id", "radius.Acct_Session_Id",
    "radius.Acct_Session_Time", "radius.Tunnel_Client_Endpoint",
]
# PKINIT fixtures (tests/data/protocols/pkinit-*.pcap): the certificates of PA-PK-AS-REQ (CMS
# and X.509 fields). Issuer/subject DNs are tree labels in tshark, so they come from a -V pass.
PKINIT_FIELDS = [
    "frame.number", "kerberos.msg_type", "kerberos.CNameString", "kerberos.padata_type",
    "cms.certificates", "cms.serialNumber", "x509af.serialNumber", "x509af.utcTime",
    "x509af.generalizedTime", "x509ce.dNSName", "x509sat.UTF8String",
    "x509ce.SubjectKeyIdentifier",
]
# SMB1 fixtures (tests/data/protocols/smb1-*.pcap): header, NativeOS, tree path, transactions.
SMB1_FIELDS = [
    "frame.number", "smb.cmd", "smb.mid", "smb.nt_status", "smb.flags.response",
    "smb.trans2.cmd", "smb.native_os", "smb.native_lanman", "smb.path", "smb.fid",
    "smb.tdc", "smb.nt.function",
]
_DN_LABEL = re.compile(r"^\s*(issuer|subject): rdnSequence \(0\)\n\s*rdnSequence: \d+ items? "
                       r"\((.*)\)$", re.M)


def captures() -> Iterator[tuple[str, bytes]]:
    """(oracle name, capture bytes) for every capture the tests decode."""
    for z in sorted(DATA.glob("otrf-dev/*/network/*.zip")):
        with zipfile.ZipFile(z) as zf:
            for m in sorted(zf.namelist()):
                if m.endswith((".cap", ".pcap", ".pcapng")):
                    yield Path(m).stem, zf.read(m)
    dns = DATA / "evtx-attack-samples" / "Command_and_Control" / DNS_PCAP
    if dns.exists():
        yield dns.stem, dns.read_bytes()
    for p in sorted(OUT.glob("*.pcap*")):
        if not p.name.endswith(".py"):
            yield p.stem, p.read_bytes()


def tshark(data: bytes, *args: str) -> list[dict[str, Any]]:
    """Run tshark on ``data`` (stdin) and parse its JSON output."""
    out = subprocess.run(["tshark", "-r", "-", "-T", "json", *args], input=data,
                         capture_output=True, check=False).stdout  # 2: file cut short
    return json.loads(out or b"[]")


def outer_filters(node: Any, found: list[str]) -> None:
    """Collect the outermost ``Filter: ...`` labels of a -T json tree, in document order."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k.startswith("Filter: "):
                found.append(k[len("Filter: "):])
            else:
                outer_filters(v, found)
    elif isinstance(node, list):
        for v in node:
            outer_filters(v, found)


def oracle(data: bytes) -> dict[str, dict[str, Any]]:
    """Per-frame expected fields (frames with none of them are left out)."""
    frames: dict[str, dict[str, Any]] = {}
    args = [a for f in FIELDS for a in ("-e", f)]
    for pkt in tshark(data, "-Y", "kerberos || ldap || cldap || dns", *args):
        layers = pkt["_source"]["layers"]
        no = layers.pop("frame.number")[0]
        if layers:
            frames[no] = layers
    for pkt in tshark(data, "-Y", "ldap.protocolOp == 3", "-J", "frame ldap cldap"):
        layers = pkt["_source"]["layers"]
        no = layers["frame"]["frame.number"]
        found: list[str] = []
        outer_filters({k: v for k, v in layers.items() if k != "frame"}, found)
        if found:
            frames.setdefault(no, {})["ldap.filter_string"] = found
    return frames


def radius_oracle(data: bytes) -> dict[str, dict[str, Any]]:
    """Per-frame RADIUS fields of a RADIUS fixture."""
    frames: dict[str, dict[str, Any]] = {}
    args = [a for f in RADIUS_FIELDS for a in ("-e", f)]
    for pkt in tshark(data, "-Y", "radius", *args):
        layers = pkt["_source"]["layers"]
        frames[layers.pop("frame.number")[0]] = layers
    return frames


def smb1_oracle(data: bytes) -> dict[str, dict[str, Any]]:
    """Per-frame SMB1 fields of an SMB1 fixture."""
    frames: dict[str, dict[str, Any]] = {}
    args = [a for f in SMB1_FIELDS for a in ("-e", f)]
    for pkt in tshark(data, "-Y", "smb", *args):
        layers = pkt["_source"]["layers"]
        frames[layers.pop("frame.number")[0]] = layers
    return frames


def pkinit_oracle(data: bytes) -> dict[str, dict[str, Any]]:
    """Per-frame PKINIT fields of a PKINIT fixture, with the certificates' DN labels."""
    frames: dict[str, dict[str, Any]] = {}
    args = [a for f in PKINIT_FIELDS for a in ("-e", f)]
    for pkt in tshark(data, "-Y", "kerberos.msg_type == 10", *args):
        layers = pkt["_source"]["layers"]
        frames[layers.pop("frame.number")[0]] = layers
    text = subprocess.run(["tshark", "-r", "-", "-V", "-Y", "kerberos.msg_type == 10"],
                          input=data, capture_output=True, check=False).stdout.decode()
    for block in re.split(r"^(?=Frame \d+:)", text, flags=re.M):
        m = re.match(r"Frame (\d+):", block)
        if m and m.group(1) in frames:
            for kind, label in _DN_LABEL.findall(block):
                frames[m.group(1)].setdefault(f"dn.{kind}", []).append(label)
    return frames


def main() -> None:
    """Regenerate every oracle file."""
    if shutil.which("tshark") is None:
        sys.exit("tshark is not installed (apt-get install tshark)")
    version = subprocess.run(["tshark", "--version"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[0]
    OUT.mkdir(parents=True, exist_ok=True)
    for name, data in captures():
        if name.startswith("pkinit-"):
            doc = {"capture": name, "tshark": version, "fields": PKINIT_FIELDS,
                   "frames": pkinit_oracle(data)}
        elif name.startswith("smb1-"):
            doc = {"capture": name, "tshark": version, "fields": SMB1_FIELDS,
                   "frames": smb1_oracle(data)}
        elif name.startswith("radius-"):
            doc = {"capture": name, "tshark": version, "fields": RADIUS_FIELDS,
                   "frames": radius_oracle(data)}
        else:
            doc = {"capture": name, "tshark": version, "fields": FIELDS, "frames": oracle(data)}
        path = OUT / f"{name}.tshark.json"
        path.write_text(json.dumps(doc, indent=0, sort_keys=True) + "\n")
        print(f"{path.relative_to(ROOT)}: {len(doc['frames'])} frames")


if __name__ == "__main__":
    main()
