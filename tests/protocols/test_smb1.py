"""SMB1 decoder (MS-CIFS/MS-SMB): impacket-built messages, a tshark oracle, and error cases.

The fixture ``tests/data/protocols/smb1-ms17-010.pcap`` is synthetic (generator beside it); its
oracle ``smb1-ms17-010.tshark.json`` comes from scripts/make_tshark_oracles.py (SMB1_FIELDS).
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from impacket import smb

from dcwatch.errors import Malformed
from dcwatch.model.activity import ActivityKind
from dcwatch.protocols.smb import smb1
from dcwatch.sources.base import SourceStats
from dcwatch.sources.pcap import read_capture

DATA = Path(__file__).resolve().parents[1] / "data" / "protocols"
PCAP = DATA / "smb1-ms17-010.pcap"
ORACLE = DATA / "smb1-ms17-010.tshark.json"


def tcp_payloads(data: bytes) -> dict[int, bytes]:
    """Frame number -> TCP payload of an Ethernet/IPv4/TCP classic pcap."""
    out = {}
    off, n = 24, 1
    while off + 16 <= len(data):
        incl = struct.unpack_from("<I", data, off + 8)[0]
        frame = data[off + 16 : off + 16 + incl]
        ihl = (frame[14] & 0x0F) * 4
        thl = (frame[14 + ihl + 12] >> 4) * 4
        out[n] = frame[14 + ihl + thl :]
        off += 16 + incl
        n += 1
    return out


def ours(m: memoryview) -> dict[str, list[str]]:
    """Our decoding of one SMB1 message in tshark's field terms (fields the oracle compares)."""
    h = smb1.parse_header(m)
    chain = smb1.andx_chain(m, h.command) if h.command in (0x73, 0x75) else [(h.command, 32)]
    d: dict[str, list[str]] = {
        "smb.cmd": [f"0x{c:02x}" for c, _ in chain] + (["0xff"] if h.command in (0x73, 0x75)
                                                       else []),
        "smb.mid": [str(h.mid)], "smb.nt_status": [f"0x{h.status:08x}"],
        "smb.flags.response": ["1" if h.reply else "0"],
    }
    for cmd, off in chain:
        if cmd == smb1.COM_SESSION_SETUP_ANDX:
            if h.reply:
                r = smb1.session_setup_response(m, off, h.unicode)
                nos, nlm = r.native_os, r.native_lanman
            else:
                q = smb1.session_setup_request(m, off, h.unicode)
                nos, nlm = q.native_os, q.native_lanman
            d["smb.native_os"], d["smb.native_lanman"] = [nos], [nlm]
        elif cmd == smb1.COM_TREE_CONNECT_ANDX and not h.reply:
            d["smb.path"] = [smb1.tree_connect_request(m, off, h.unicode)[0]]
    if h.command in smb1.TRANS_NAMES and not h.reply:
        t = smb1.trans_request(m, h.command, h.unicode)
        d["smb.tdc"] = [str(t.total_data_count)]
        if t.fid is not None:
            d["smb.fid"] = [f"0x{t.fid:04x}"]
        if h.command == smb1.COM_TRANSACTION2:
            d["smb.trans2.cmd"] = [f"0x{t.subcommand:04x}"]
        if h.command == smb1.COM_NT_TRANSACT:
            d["smb.nt.function"] = [str(t.subcommand)]
    return d


# tshark carries the tree path (TID tracking) and the subcommand onto later frames and replies:
# only the request-side values of each message are ours to compare.
_REQUEST_ONLY = ("smb.trans2.cmd", "smb.nt.function", "smb.path")


def test_agrees_with_tshark_oracle() -> None:
    oracle = json.loads(ORACLE.read_text())["frames"]
    payloads = tcp_payloads(PCAP.read_bytes())
    assert len(oracle) == 28
    for no, expected in oracle.items():
        m = memoryview(payloads[int(no)])[4:]  # NBSS header
        got = ours(m)
        exp = dict(expected)
        for f in _REQUEST_ONLY:
            if f not in got:
                exp.pop(f, None)
        if smb1.parse_header(m).command not in (0x73, 0x75):
            exp.pop("smb.path", None)
        assert got == exp, f"frame {no}"


@pytest.mark.tshark
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark is not installed")
def test_oracle_is_current() -> None:
    out = subprocess.run(["tshark", "-r", str(PCAP), "-Y", "smb", "-T", "fields",
                          "-e", "smb.mid"], capture_output=True, text=True,
                         check=True).stdout.split()
    oracle = json.loads(ORACLE.read_text())["frames"]
    assert out == [v["smb.mid"][0] for _, v in sorted(oracle.items(), key=lambda x: int(x[0]))]


def impacket_message(cmd: smb.SMBCommand, flags2: int = 0, **hdr: int) -> memoryview:
    """An SMB1 message built by impacket's NewSMBPacket (no NBSS header)."""
    p = smb.NewSMBPacket()
    p["Flags2"] = flags2
    for k, v in hdr.items():
        p[k] = v
    p.addCommand(cmd)
    return memoryview(p.getData())


def test_impacket_session_setup_and_tree_connect() -> None:
    ss = smb.SMBCommand(smb.SMB.SMB_COM_SESSION_SETUP_ANDX)
    ss["Parameters"] = smb.SMBSessionSetupAndX_Parameters()
    ss["Data"] = smb.SMBSessionSetupAndX_Data()
    for k, v in {"MaxBuffer": 61440, "MaxMpxCount": 2, "VCNumber": 1, "SessionKey": 0,
                 "AnsiPwdLength": 24, "UnicodePwdLength": 24, "Capabilities": 0xD4}.items():
        ss["Parameters"][k] = v
    for k, v in {"AnsiPwd": b"\x01" * 24, "UnicodePwd": b"\x02" * 24, "Account": "alice",
                 "PrimaryDomain": "CORP", "NativeOS": "Unix", "NativeLanMan": "Samba"}.items():
        ss["Data"][k] = v
    m = impacket_message(ss, Mid=7, Uid=0, Pid=0x1234)
    h = smb1.parse_header(m)
    assert (h.command, h.mid, h.pid, h.reply, h.unicode) == (0x73, 7, 0x1234, False, False)
    req = smb1.session_setup_request(m, 32, h.unicode)
    assert (req.account, req.domain, req.native_os, req.native_lanman) == (
        "alice", "CORP", "Unix", "Samba")
    assert (req.oem_password_len, req.unicode_password_len, req.anonymous) == (24, 24, False)

    tc = smb.SMBCommand(smb.SMB.SMB_COM_TREE_CONNECT_ANDX)
    tc["Parameters"] = smb.SMBTreeConnectAndX_Parameters()
    tc["Parameters"]["PasswordLength"] = 1
    flags2 = smb.SMB.FLAGS2_UNICODE
    tc["Data"] = smb.SMBTreeConnectAndX_Data(flags=flags2)
    tc["Data"]["Password"] = b"\x00"
    tc["Data"]["Path"] = "\\\\DC01\\IPC$".encode("utf-16le")
    tc["Data"]["Service"] = smb.SERVICE_ANY
    m = impacket_message(tc, flags2=flags2, Uid=2048, Mid=8)
    assert smb1.tree_connect_request(m, 32, True) == ("\\\\DC01\\IPC$", "?????")


def test_impacket_transaction_peek_named_pipe() -> None:
    t = smb.SMBCommand(smb.SMB.SMB_COM_TRANSACTION)
    t["Parameters"] = smb.SMBTransaction_Parameters()
    t["Data"] = smb.SMBTransaction_Data()
    t["Parameters"]["Setup"] = struct.pack("<HH", 0x23, 0)
    t["Parameters"]["TotalParameterCount"] = t["Parameters"]["ParameterCount"] = 0
    t["Parameters"]["TotalDataCount"] = t["Parameters"]["DataCount"] = 0
    t["Parameters"]["ParameterOffset"] = t["Parameters"]["DataOffset"] = 0
    t["Data"]["Name"] = b"\\PIPE\\\x00"
    t["Data"]["Trans_Parameters"] = b""
    t["Data"]["Trans_Data"] = b""
    m = impacket_message(t, Mid=4, Tid=2049, Uid=2048)
    req = smb1.trans_request(m, smb1.COM_TRANSACTION, False)
    assert (req.subcommand, req.fid, req.name) == (0x23, 0, "\\PIPE\\")
    assert smb1.TRANS_SUBCOMMANDS[req.subcommand] == "PeekNmPipe"


def test_activities_from_the_capture() -> None:
    with PCAP.open("rb") as fh:
        acts = list(read_capture(fh, str(PCAP), SourceStats(str(PCAP))))
    trans = [a for a in acts if a.fields.get("smb1_command")]
    assert [(a.src_ip, a.fields["smb1_command"], a.fields["subcommand"], a.status)
            for a in trans] == [
        ("10.0.0.66", "transaction", 0x23, 0xC0000205),
        ("10.0.0.66", "trans2", 0x0E, 0xC0000002),
        ("10.0.0.66", "nt_transact", 0, 0),
        ("10.0.0.21", "transaction", 0x26, 0),
        ("10.0.0.21", "trans2", 0x01, 0xC000000F),
    ]
    assert trans[0].fields["fid"] == 0
    assert trans[0].fields["session_auth"] == "anonymous"
    assert (trans[1].fields["mid"], trans[1].fields["reply_mid"]) == (0x41, 0x51)
    assert trans[2].fields["total_data_count"] == 0x10FE8
    sessions = [a for a in acts if a.kind is ActivityKind.SMB_SESSION]
    assert [(a.src_ip, a.fields["auth"], a.fields["native_os"]) for a in sessions] == [
        ("10.0.0.66", "anonymous", "Windows 2000 2195"),
        ("10.0.0.21", "ntlm", "Windows 7 Professional 7601 Service Pack 1"),
        ("10.0.0.77", "ntlm", "Windows 7 Ultimate N 7601 Service Pack 1"),
    ]
    assert sessions[1].fields["ntlm_negotiate_version"] == [6, 1, 7601]
    assert sessions[1].actor is not None
    assert sessions[1].actor.name == "alice"
    assert sessions[2].fields["ntlm_negotiate_version"] is None
    trees = [a for a in acts if a.kind is ActivityKind.SMB_TREE_CONNECT]
    assert [(a.fields["share"], a.fields["share_type"]) for a in trees] == [
        ("\\\\10.0.0.10\\IPC$", "pipe"), ("\\\\DC01\\IPC$", "pipe")]


def test_errors() -> None:
    hdr = struct.pack("<4sBIBHH8sHHHHH", b"\xffSMB", 0x73, 0, 0x18, 0, 0, bytes(8), 0, 0, 0,
                      0, 1)
    with pytest.raises(Malformed, match="without a 32-byte"):
        smb1.parse_header(memoryview(b"\xffSMB\x72"))
    with pytest.raises(Malformed, match="WordCount 13 runs past"):
        smb1.session_setup_request(memoryview(hdr + b"\x0d" + bytes(4)), 32, False)
    with pytest.raises(Malformed, match="ByteCount 9 exceeds"):
        smb1.trans_request(memoryview(hdr + b"\x00\x09\x00"), 0x32, False)
    with pytest.raises(Malformed, match="WordCount 7 not 10, 12 or 13"):
        smb1.session_setup_request(memoryview(hdr + b"\x07" + bytes(14) + b"\x00\x00"), 32,
                                   False)
    words = bytes([0xFF, 0, 0, 0]) + bytes(10) + struct.pack("<HH", 40, 0) + bytes(8)
    with pytest.raises(Malformed, match="password lengths 40\\+0 exceed"):
        smb1.session_setup_request(memoryview(hdr + b"\x0d" + words + b"\x02\x00ab"), 32,
                                   False)
    trans = struct.pack("<HHHHBBHIHHHHHBB", 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0)
    with pytest.raises(Malformed, match="SetupCount 3 runs past"):
        smb1.trans_request(memoryview(hdr + b"\x0e" + trans + b"\x00\x00"), 0x32, False)
    with pytest.raises(Malformed, match="AndXOffset 4 after 32"):
        smb1.andx_chain(memoryview(hdr + b"\x02\x75\x00\x04\x00" + bytes(4)), 0x73)
