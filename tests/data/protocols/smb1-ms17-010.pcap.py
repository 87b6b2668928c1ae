"""Generator of smb1-ms17-010.pcap: three SMB1 (MS-CIFS) conversations with a DC (10.0.0.10:445).

1. 10.0.0.66, the MS17-010 exploitation sequence (shape of the public write-ups of WannaCry and
   the EternalBlue/DoublePulsar tools): NEGOTIATE (SMB1 dialects only), an anonymous
   non-extended SESSION_SETUP_ANDX (OEM strings), TREE_CONNECT_ANDX to IPC$ (Unicode), a
   TRANSACTION PeekNamedPipe on FID 0 answered STATUS_INSUFF_SERVER_RESOURCES, a
   TRANSACTION2 SESSION_SETUP (answered STATUS_NOT_IMPLEMENTED with MID + 0x10) and an
   NT_TRANSACT of function 0 announcing 0x10FE8 data bytes.
2. 10.0.0.21, an ordinary SMB1 client: NEGOTIATE offering SMB 2 too (server keeps NT LM 0.12),
   extended-security NTLMSSP (impacket.ntlm builds the three legs, Version 6.1.7601),
   SESSION_SETUP chained with TREE_CONNECT_ANDX, TransactNmPipe on a real FID, FIND_FIRST2.
3. 10.0.0.77, a client claiming Windows 7 in NativeOS/NativeLanMan that offers no SMB 2
   dialect and whose NTLMSSP NEGOTIATE carries no Version (the unverified Metasploit
   fingerprint of detectors/metasploit.py).
SMB1 messages are packed with struct; frames come from tests/protocols/wire.py.
Run: ``.venv/bin/python tests/data/protocols/smb1-ms17-010.pcap.py`` (then
``scripts/make_tshark_oracles.py``).
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "protocols"))

import wire as w
from impacket import ntlm

DC = "10.0.0.10"
T0 = 1_767_261_600.0  # 2026-01-01 10:00 UTC
OEM_FLAGS2 = 0x4001  # long names, NT status codes... no Unicode, no extended security
UNI_FLAGS2 = 0xC807  # + Unicode + extended security + signatures
DIALECTS_SMB1 = ["PC NETWORK PROGRAM 1.0", "LANMAN1.0", "Windows for Workgroups 3.1a",
                 "LM1.2X002", "LANMAN2.1", "NT LM 0.12"]


def smb(cmd: int, words: bytes, data: bytes, *, status: int = 0, reply: bool = False,
        flags2: int = UNI_FLAGS2, tid: int = 0, pid: int = 0xFEFF, uid: int = 0,
        mid: int = 1) -> bytes:
    """MS-CIFS 2.2.3.1 header + parameter and data blocks, in an NBSS frame."""
    flags = 0x18 | (0x80 if reply else 0)
    hdr = struct.pack("<4sBIBHH8sHHHHH", b"\xffSMB", cmd, status, flags, flags2, 0,
                      bytes(8), 0, tid, pid, uid, mid)
    msg = hdr + bytes([len(words) // 2]) + words + struct.pack("<H", len(data)) + data
    return struct.pack(">I", len(msg)) + msg


def uni(s: str) -> bytes:
    return s.encode("utf-16-le") + b"\x00\x00"


def negotiate(dialects: list[str]) -> bytes:
    return smb(0x72, b"", b"".join(b"\x02" + d.encode() + b"\x00" for d in dialects),
               flags2=OEM_FLAGS2)


def negotiate_reply(index: int) -> bytes:
    words = struct.pack("<HBHHIIIIQhB", index, 3, 50, 1, 16644, 65536, 0, 0x8000F3FD, 0, 0, 0)
    return smb(0x72, words, b"", reply=True)


def andx(nxt: int = 0xFF, off: int = 0) -> bytes:
    return struct.pack("<BBH", nxt, 0, off)


def setup_plain(native_os: str, native_lm: str, mid: int) -> bytes:
    """Non-extended NULL session (MS-CIFS 2.2.4.53.1, WordCount 13), OEM strings."""
    words = andx() + struct.pack("<HHHIHHII", 4356, 10, 0, 0, 1, 0, 0, 0x000000D4)
    data = b"\x00" + b"\x00" + b"\x00" + native_os.encode() + b"\x00" + native_lm.encode() + b"\x00"
    return smb(0x73, words, data, flags2=OEM_FLAGS2, mid=mid)


def setup_plain_reply(uid: int, mid: int) -> bytes:
    data = b"Windows Server 2008 R2 Standard 7601 Service Pack 1\x00Windows Server 2008 R2 " \
           b"Standard 6.1\x00CORP\x00"
    return smb(0x73, andx() + struct.pack("<H", 0), data, reply=True, flags2=OEM_FLAGS2,
               uid=uid, mid=mid)


def setup_ext(blob: bytes, native_os: str, native_lm: str, mid: int, uid: int = 0,
              chain_tree: bytes = b"") -> bytes:
    """Extended security (MS-SMB 2.2.4.6.1, WordCount 12), Unicode strings (padded)."""
    data = blob + (b"\x00" if (32 + 1 + 24 + 2 + len(blob)) % 2 else b"") + uni(native_os) \
        + uni(native_lm)
    if not chain_tree:
        words = andx() + struct.pack("<HHHIHII", 16644, 50, 0, 0, len(blob), 0, 0x8000E05C)
        return smb(0x73, words, data, mid=mid, uid=uid)
    tree_off = 32 + 1 + 24 + 2 + len(data)
    words = andx(0x75, tree_off) + struct.pack("<HHHIHII", 16644, 50, 0, 0, len(blob), 0,
                                               0x8000E05C)
    body = smb(0x73, words, data, mid=mid, uid=uid)[4:] + chain_tree
    return struct.pack(">I", len(body)) + body


def setup_ext_reply(blob: bytes, status: int, uid: int, mid: int, tree: bytes = b"") -> bytes:
    data = blob + (b"\x00" if (32 + 1 + 8 + 2 + len(blob)) % 2 else b"") \
        + uni("Windows Server 2008 R2 Standard 7601 Service Pack 1") \
        + uni("Windows Server 2008 R2 Standard 6.1")
    if not tree:
        return smb(0x73, andx() + struct.pack("<HH", 0, len(blob)), data, status=status,
                   reply=True, uid=uid, mid=mid)
    off = 32 + 1 + 8 + 2 + len(data)
    body = smb(0x73, andx(0x75, off) + struct.pack("<HH", 0, len(blob)), data, status=status,
               reply=True, uid=uid, mid=mid)[4:] + tree
    return struct.pack(">I", len(body)) + body


def tree_block(path: str, at: int) -> bytes:
    """TREE_CONNECT_ANDX request block (MS-CIFS 2.2.4.55.1) starting at offset ``at``."""
    words = andx() + struct.pack("<HH", 0x0008, 1)
    pre = b"\x00"  # 1-byte password
    pad = b"" if (at + 1 + 8 + 2 + 1) % 2 == 0 else b"\x00"
    data = pre + pad + uni(path) + b"?????\x00"
    return bytes([4]) + words + struct.pack("<H", len(data)) + data


def tree_connect(path: str, uid: int, mid: int) -> bytes:
    blk = tree_block(path, 32)
    hdr = smb(0x75, b"", b"", uid=uid, mid=mid)[4:36]
    msg = hdr + blk
    return struct.pack(">I", len(msg)) + msg


def tree_reply_block() -> bytes:
    return bytes([3]) + andx() + struct.pack("<H", 1) + struct.pack("<H", 4) + b"IPC\x00"


def tree_reply(uid: int, tid: int, mid: int) -> bytes:
    msg = smb(0x75, b"", b"", reply=True, uid=uid, tid=tid, mid=mid)[4:36] + tree_reply_block()
    return struct.pack(">I", len(msg)) + msg


def trans(setup: list[int], name: str | None, params: bytes, data: bytes, *, cmd: int = 0x25,
          uid: int, tid: int, mid: int, total_data: int | None = None) -> bytes:
    """TRANSACTION (0x25) / TRANSACTION2 (0x32) request with its Setup words."""
    wc = 14 + len(setup)
    base = 32 + 1 + 2 * wc + 2
    head = b"\x00" + (uni(name) if name is not None else b"\x00\x00")
    poff = base + len(head)
    doff = poff + len(params)
    words = struct.pack("<HHHHBBHIHHHHHBB", len(params), total_data or len(data), 0xFFFF,
                        0x1000, 0, 0, 0, 0, 0, len(params), poff, len(data), doff, len(setup),
                        0) + struct.pack(f"<{len(setup)}H", *setup)
    return smb(cmd, words, head + params + data, uid=uid, tid=tid, mid=mid)


def nt_trans(function: int, total_data: int, data: bytes, *, uid: int, tid: int,
             mid: int) -> bytes:
    """NT_TRANSACT request (MS-CIFS 2.2.4.62.1), WordCount 19 + SetupCount."""
    base = 32 + 1 + 38 + 2 + 2
    params = bytes(30)
    words = struct.pack("<BHIIIIIIIIBH", 1, 0, len(params), total_data, 0x1E, 0, len(params),
                        base, len(data), base + len(params), 0, function)
    return smb(0xA0, words, b"\x00\x00" + params + data, uid=uid, tid=tid, mid=mid)


def reply(cmd: int, status: int, *, uid: int, tid: int, mid: int) -> bytes:
    return smb(cmd, b"", b"", status=status, reply=True, uid=uid, tid=tid, mid=mid)


def exploit_flow() -> list[tuple[float, bytes]]:
    s = w.TcpSession("10.0.0.66", 50101, DC, 445, t0=T0)
    uid, tid = 2048, 2049
    for c2s, msg in [
        (True, negotiate(DIALECTS_SMB1)), (False, negotiate_reply(5)),
        (True, setup_plain("Windows 2000 2195", "Windows 2000 5.0", 2)),
        (False, setup_plain_reply(uid, 2)),
        (True, tree_connect("\\\\10.0.0.10\\IPC$", uid, 3)),
        (False, tree_reply(uid, tid, 3)),
        (True, trans([0x23, 0x0000], "\\PIPE\\", b"", b"", uid=uid, tid=tid, mid=4)),
        (False, reply(0x25, 0xC0000205, uid=uid, tid=tid, mid=4)),
        (True, trans([0x000E], None, bytes(12), b"", cmd=0x32, uid=uid, tid=tid, mid=0x41)),
        (False, reply(0x32, 0xC0000002, uid=uid, tid=tid, mid=0x51)),
        (True, nt_trans(0, 0x10FE8, b"\x00" * 960, uid=uid, tid=tid, mid=0x42)),
        (False, reply(0xA0, 0, uid=uid, tid=tid, mid=0x42)),
    ]:
        s.send(c2s, msg)
    s.fin()
    return s.frames


def ntlm_legs(with_version: bool) -> tuple[bytes, bytes, bytes]:
    """NEGOTIATE, CHALLENGE, AUTHENTICATE built by impacket.ntlm (raw NTLMSSP blobs)."""
    t1 = ntlm.getNTLMSSPType1("WS01", "CORP", signingRequired=True)
    if with_version:  # Windows 7 SP1: 6.1 build 7601, NTLM revision 15 (MS-NLMP 2.2.2.10)
        t1["flags"] |= ntlm.NTLMSSP_NEGOTIATE_VERSION
        t1["os_version"] = b"\x06\x01\xb1\x1d\x00\x00\x00\x0f"
    else:
        t1["flags"] &= ~ntlm.NTLMSSP_NEGOTIATE_VERSION
    chal = ntlm.NTLMAuthChallenge()
    # no Version in CHALLENGE/AUTHENTICATE: impacket's Type3 offsets ignore it
    chal["flags"] = (t1["flags"] | ntlm.NTLMSSP_NEGOTIATE_TARGET_INFO) \
        & ~ntlm.NTLMSSP_NEGOTIATE_VERSION
    chal["challenge"] = b"\x11" * 8
    chal["domain_name"] = "CORP".encode("utf-16-le")
    info = ntlm.AV_PAIRS()
    info[ntlm.NTLMSSP_AV_HOSTNAME] = "DC01".encode("utf-16-le")
    info[ntlm.NTLMSSP_AV_DOMAINNAME] = "CORP".encode("utf-16-le")
    info[ntlm.NTLMSSP_AV_DNS_HOSTNAME] = "dc01.corp.local".encode("utf-16-le")
    info[ntlm.NTLMSSP_AV_TIME] = struct.pack("<Q", 134117352000000000)
    chal["TargetInfoFields"] = info.getData()
    chal["Version"] = b""
    chal["domain_offset"] = 48 + len(chal["Version"])
    chal["TargetInfoFields_offset"] = chal["domain_offset"] + len(chal["domain_name"])
    raw_chal = chal.getData()
    plain = ntlm.getNTLMSSPType1("WS01", "CORP", signingRequired=True)
    plain["flags"] &= ~ntlm.NTLMSSP_NEGOTIATE_VERSION
    t3, _key = ntlm.getNTLMSSPType3(plain, raw_chal, "alice", "Passw0rd!", "CORP", use_ntlmv2=True)
    return t1.getData(), raw_chal, t3.getData()


def normal_flow() -> list[tuple[float, bytes]]:
    s = w.TcpSession("10.0.0.21", 50202, DC, 445, t0=T0 + 60)
    uid, tid = 4096, 4097
    t1, t2, t3 = ntlm_legs(with_version=True)
    nos, nlm = "Windows 7 Professional 7601 Service Pack 1", "Windows 7 Professional 6.1"
    first = setup_ext(t3, nos, nlm, 3, uid)  # size of the AUTHENTICATE leg's session block
    tree = tree_block("\\\\DC01\\IPC$", len(first) - 4)
    reply_first = setup_ext_reply(b"", 0, uid, 3)
    for c2s, msg in [
        (True, negotiate(["NT LM 0.12", "SMB 2.002", "SMB 2.???"])), (False, negotiate_reply(0)),
        (True, setup_ext(t1, nos, nlm, 2)),
        (False, setup_ext_reply(t2, 0xC0000016, uid, 2)),
        (True, setup_ext(t3, nos, nlm, 3, uid, chain_tree=tree)),
        (False, _chain_reply(reply_first, uid, tid)),
        (True, trans([0x26, 0x4000], "\\PIPE\\", b"", b"\x05\x00\x0b\x03" + bytes(68),
                     uid=uid, tid=tid, mid=4)),
        (False, reply(0x25, 0, uid=uid, tid=tid, mid=4)),
        (True, trans([0x0001], None, bytes(12) + uni("\\*"), b"", cmd=0x32, uid=uid,
                     tid=tid, mid=5)),
        (False, reply(0x32, 0xC000000F, uid=uid, tid=tid, mid=5)),
    ]:
        s.send(c2s, msg)
    s.fin()
    return s.frames


def _chain_reply(first: bytes, uid: int, tid: int) -> bytes:
    """SESSION_SETUP_ANDX reply with TREE_CONNECT_ANDX chained (AndXOffset patched)."""
    body = bytearray(first[4:])
    off = len(body)
    body[33:37] = andx(0x75, off)
    body[24:26] = struct.pack("<H", tid)
    body += tree_reply_block()
    return struct.pack(">I", len(body)) + bytes(body)


def fingerprint_flow() -> list[tuple[float, bytes]]:
    s = w.TcpSession("10.0.0.77", 50303, DC, 445, t0=T0 + 120)
    uid = 6144
    t1, t2, t3 = ntlm_legs(with_version=False)
    nos, nlm = "Windows 7 Ultimate N 7601 Service Pack 1", "Windows 7 Ultimate N 6.1"
    for c2s, msg in [
        (True, negotiate(["NT LM 0.12"])), (False, negotiate_reply(0)),
        (True, setup_ext(t1, nos, nlm, 2)),
        (False, setup_ext_reply(t2, 0xC0000016, uid, 2)),
        (True, setup_ext(t3, nos, nlm, 3, uid)),
        (False, setup_ext_reply(b"", 0xC000006D, uid, 3)),
    ]:
        s.send(c2s, msg)
    s.fin()
    return s.frames


if __name__ == "__main__":
    frames = sorted(exploit_flow() + normal_flow() + fingerprint_flow(), key=lambda f: f[0])
    out = Path(__file__).with_suffix("")
    out.write_bytes(w.pcap(frames))
    print(f"{out}: {len(frames)} frames")
