"""SMB1 (MS-CIFS 2.2, MS-SMB 2.2): header, NEGOTIATE, SESSION_SETUP_ANDX, TREE_CONNECT_ANDX and
the three transaction families (TRANSACTION, TRANSACTION2, NT_TRANSACT), far enough for detection.

A client offering ``NT LM 0.12`` alongside ``SMB 2.???`` is the normal Windows opening; a server
answering in SMB1 means SMB1 is enabled (WannaCry-era exposure). SESSION_SETUP_ANDX carries the
client's NativeOS/NativeLanMan strings (tool fingerprints) and either a security blob (extended
security: SPNEGO/NTLMSSP) or LM/NTLM passwords; the transaction requests carry the subcommands
the MS17-010 exploits use (PeekNamedPipe on FID 0, TRANS2_SESSION_SETUP, oversized NT_TRANSACT).
Every WordCount/ByteCount/offset is bounds-checked where it is read; only ``Malformed`` escapes.
Validated against tshark: tests/protocols/test_smb1.py.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dcwatch.errors import Malformed

PROTOCOL_ID = b"\xffSMB"  # MS-CIFS 2.2.3.1
HEADER_LEN = 32
# MS-CIFS 2.2.2.1 command codes
COM_TRANSACTION = 0x25
COM_TRANSACTION_SECONDARY = 0x26
COM_TRANSACTION2 = 0x32
COM_TRANSACTION2_SECONDARY = 0x33
COM_NEGOTIATE = 0x72
COM_SESSION_SETUP_ANDX = 0x73
COM_TREE_CONNECT_ANDX = 0x75
COM_NT_TRANSACT = 0xA0
COM_NT_TRANSACT_SECONDARY = 0xA1
NO_ANDX = 0xFF  # MS-CIFS 2.2.4.x AndXCommand: no further command
MAX_ANDX = 8  # AndX chain length followed (real chains hold two or three)
FLAGS_REPLY = 0x80  # MS-CIFS 2.2.3.1 Flags SMB_FLAGS_REPLY
FLAGS2_UNICODE = 0x8000  # MS-CIFS 2.2.3.1 SMB_FLAGS2_UNICODE
FLAGS2_EXTENDED_SECURITY = 0x0800  # MS-SMB 2.2.3.1 SMB_FLAGS2_EXTENDED_SECURITY
TRANS_NAMES = {COM_TRANSACTION: "transaction", COM_TRANSACTION2: "trans2",
               COM_NT_TRANSACT: "nt_transact"}
# MS-CIFS 2.2.5 named-pipe TRANSACTION subcommands (Setup[0])
TRANS_SUBCOMMANDS = {0x0001: "SetNmpHandState", 0x0011: "RawReadNmPipe",
                     0x0021: "QueryNmpHandState", 0x0022: "QueryNmPipeInfo",
                     0x0023: "PeekNmPipe", 0x0026: "TransactNmPipe", 0x0031: "RawWriteNmPipe",
                     0x0036: "ReadNmPipe", 0x0037: "WriteNmPipe", 0x0053: "WaitNmPipe",
                     0x0054: "CallNmPipe"}
# MS-CIFS 2.2.6 TRANSACTION2 subcommands
TRANS2_SUBCOMMANDS = {0x0000: "OPEN2", 0x0001: "FIND_FIRST2", 0x0002: "FIND_NEXT2",
                      0x0003: "QUERY_FS_INFORMATION", 0x0004: "SET_FS_INFORMATION",
                      0x0005: "QUERY_PATH_INFORMATION", 0x0006: "SET_PATH_INFORMATION",
                      0x0007: "QUERY_FILE_INFORMATION", 0x0008: "SET_FILE_INFORMATION",
                      0x0009: "FSCTL", 0x000A: "IOCTL2", 0x000B: "FIND_NOTIFY_FIRST",
                      0x000C: "FIND_NOTIFY_NEXT", 0x000D: "CREATE_DIRECTORY",
                      0x000E: "SESSION_SETUP", 0x0010: "GET_DFS_REFERRAL",
                      0x0011: "REPORT_DFS_INCONSISTENCY"}
TRANS2_SESSION_SETUP = 0x000E  # MS-CIFS 2.2.6.15: reserved, not implemented by servers
# MS-CIFS 2.2.7 NT_TRANSACT functions (0 and >8 are undefined)
NT_TRANSACT_FUNCTIONS = {1: "CREATE", 2: "IOCTL", 3: "SET_SECURITY_DESC", 4: "NOTIFY_CHANGE",
                         5: "RENAME", 6: "QUERY_SECURITY_DESC", 7: "GET_USER_QUOTA",
                         8: "SET_USER_QUOTA"}

_H = struct.Struct("<4sBIBHH8sHHHHH")  # MS-CIFS 2.2.3.1 SMB_Header
_TRANS = struct.Struct("<HHHHBBHIHHHHHBB")  # MS-CIFS 2.2.4.33.1 fixed words (14)
_NTTRANS = struct.Struct("<BHIIIIIIIIBH")  # MS-CIFS 2.2.4.62.1 fixed words (19)


@dataclass(frozen=True, slots=True)
class Header:
    """MS-CIFS 2.2.3.1 SMB_Header; ``pid`` joins PIDHigh and PIDLow."""

    command: int
    status: int
    flags: int
    flags2: int
    tid: int
    pid: int
    uid: int
    mid: int

    @property
    def reply(self) -> bool:
        return bool(self.flags & FLAGS_REPLY)

    @property
    def unicode(self) -> bool:
        return bool(self.flags2 & FLAGS2_UNICODE)


@dataclass(frozen=True, slots=True)
class SessionSetupRequest:
    """MS-CIFS 2.2.4.53.1 / MS-SMB 2.2.4.6.1 SMB_COM_SESSION_SETUP_ANDX request."""

    blob: bytes | None  # extended security: SPNEGO or raw NTLMSSP; None otherwise
    oem_password_len: int
    unicode_password_len: int
    account: str
    domain: str
    native_os: str
    native_lanman: str
    capabilities: int

    @property
    def anonymous(self) -> bool:
        """Non-extended NULL session: no account and no (or a one-byte NUL) password."""
        return (self.blob is None and not self.account
                and self.oem_password_len <= 1 and self.unicode_password_len == 0)


@dataclass(frozen=True, slots=True)
class SessionSetupResponse:
    """MS-CIFS 2.2.4.53.2 / MS-SMB 2.2.4.6.2 response (empty for error replies)."""

    action: int  # bit 0 SMB_SETUP_GUEST
    blob: bytes | None
    native_os: str
    native_lanman: str


@dataclass(frozen=True, slots=True)
class TransRequest:
    """A TRANSACTION / TRANSACTION2 / NT_TRANSACT request (MS-CIFS 2.2.4.33/46/62)."""

    command: int
    subcommand: int | None  # Setup[0] (TRANSACTION, TRANSACTION2) or Function (NT_TRANSACT)
    setup: tuple[int, ...]
    total_parameter_count: int
    total_data_count: int
    parameter_count: int
    data_count: int
    name: str | None  # TRANSACTION only: "\PIPE\" or "\PIPE\LANMAN"

    @property
    def fid(self) -> int | None:
        """Named-pipe TRANSACTION subcommands carry the FID in Setup[1] (MS-CIFS 2.2.5)."""
        if self.command == COM_TRANSACTION and len(self.setup) >= 2:
            return self.setup[1]
        return None


def parse_header(m: memoryview) -> Header:
    """The SMB1 header of a message."""
    if len(m) < HEADER_LEN or bytes(m[:4]) != PROTOCOL_ID:
        raise Malformed(f"smb1: message of {len(m)} bytes without a 32-byte \\xffSMB header")
    (_p, cmd, status, flags, flags2, pid_high, _sig, _r, tid, pid_low, uid, mid) = (
        _H.unpack_from(m, 0))
    return Header(cmd, status, flags, flags2, tid, (pid_high << 16) | pid_low, uid, mid)


def block(m: memoryview, off: int, what: str) -> tuple[memoryview, memoryview, int]:
    """(parameter words, data bytes, absolute offset of the data) of the block at ``off``."""
    if off + 1 > len(m):
        raise Malformed(f"smb1: {what} WordCount at {off} past the {len(m)}-byte message")
    wc = m[off]
    pos = off + 1 + 2 * wc
    if pos + 2 > len(m):
        raise Malformed(f"smb1: {what} WordCount {wc} runs past the {len(m)}-byte message")
    (bc,) = struct.unpack_from("<H", m, pos)
    if pos + 2 + bc > len(m):
        raise Malformed(f"smb1: {what} ByteCount {bc} exceeds the {len(m) - pos - 2} bytes left")
    return m[off + 1 : pos], m[pos + 2 : pos + 2 + bc], pos + 2


def andx_chain(m: memoryview, command: int) -> list[tuple[int, int]]:
    """(command, block offset) of an AndX chain (MS-CIFS 2.2.3.4), first command included."""
    out = [(command, HEADER_LEN)]
    off = HEADER_LEN
    while len(out) <= MAX_ANDX:
        if off + 5 > len(m) or m[off] < 2:
            break  # error replies carry WordCount 0: no AndX block
        nxt = m[off + 1]
        (nxt_off,) = struct.unpack_from("<H", m, off + 3)
        if nxt == NO_ANDX:
            break
        if nxt_off <= off or nxt_off >= len(m):
            raise Malformed(f"smb1: AndXOffset {nxt_off} after {off} outside the {len(m)} bytes")
        out.append((nxt, nxt_off))
        off = nxt_off
    return out


def _strings(m: memoryview, pos: int, end: int, unicode: bool, n: int) -> list[str]:
    """``n`` NUL-terminated SMB_STRINGs from absolute ``pos``: UTF-16LE aligned on 2, or OEM.

    A missing terminator at the end of the data ends the string (Windows omits the last one).
    """
    out = []
    data = bytes(m[:end])
    for _ in range(n):
        if pos >= end:
            out.append("")
            continue
        if unicode:
            if pos % 2:  # MS-CIFS 2.2.1.1: Unicode strings are aligned on 16 bits
                pos += 1
            i = pos
            while i + 1 < end and data[i : i + 2] != b"\x00\x00":
                i += 2
            raw = data[pos:min(i, end)]
            out.append(raw[: len(raw) & ~1].decode("utf-16-le", "replace"))
            pos = i + 2
        else:
            i = data.find(b"\x00", pos, end)
            i = end if i < 0 else i
            out.append(data[pos:i].decode("cp437", "replace"))
            pos = i + 1
    return out


def negotiate_dialects(m: memoryview) -> list[str]:
    """MS-CIFS 2.2.4.52.1 SMB_COM_NEGOTIATE request: the dialect strings offered."""
    _w, data, _p = block(m, HEADER_LEN, "NEGOTIATE")
    out = []
    for part in bytes(data).split(b"\x00"):
        if part.startswith(b"\x02"):  # BufferFormat 0x02: dialect string
            out.append(part[1:].decode("latin-1"))
    return out


def negotiate_response_index(m: memoryview) -> int | None:
    """MS-CIFS 2.2.4.52.2 SMB_COM_NEGOTIATE response: DialectIndex (0xFFFF: none accepted)."""
    if len(m) < HEADER_LEN + 3 or m[HEADER_LEN] == 0:
        return None
    return struct.unpack_from("<H", m, HEADER_LEN + 1)[0]


def session_setup_request(m: memoryview, off: int, unicode: bool) -> SessionSetupRequest:
    """SESSION_SETUP_ANDX request: WordCount 12 (extended security), 13 (NT LM) or 10 (LANMAN)."""
    words, data, dpos = block(m, off, "SESSION_SETUP_ANDX request")
    end = dpos + len(data)
    wc = len(words) // 2
    if wc == 12:  # MS-SMB 2.2.4.6.1
        (blen,) = struct.unpack_from("<H", words, 14)
        (caps,) = struct.unpack_from("<I", words, 20)
        if blen > len(data):
            raise Malformed(f"smb1: SecurityBlobLength {blen} exceeds the {len(data)}-byte data")
        nos, nlm = _strings(m, dpos + blen, end, unicode, 2)
        return SessionSetupRequest(bytes(data[:blen]), 0, 0, "", "", nos, nlm, caps)
    if wc == 13:  # MS-CIFS 2.2.4.53.1
        oem, uni = struct.unpack_from("<HH", words, 14)
        (caps,) = struct.unpack_from("<I", words, 22)
    elif wc == 10:  # MS-CIFS 2.2.4.53.1 (LANMAN 2.1 form)
        (oem,) = struct.unpack_from("<H", words, 14)
        uni, caps = 0, 0
        unicode = False
    else:
        raise Malformed(f"smb1: SESSION_SETUP_ANDX request WordCount {wc} not 10, 12 or 13")
    if oem + uni > len(data):
        raise Malformed(f"smb1: password lengths {oem}+{uni} exceed the {len(data)}-byte data")
    acct, dom, nos, nlm = _strings(m, dpos + oem + uni, end, unicode, 4)
    return SessionSetupRequest(None, oem, uni, acct, dom, nos, nlm, caps)


def session_setup_response(m: memoryview, off: int, unicode: bool) -> SessionSetupResponse:
    """SESSION_SETUP_ANDX response: WordCount 4 (extended security), 3, or 0 (error)."""
    words, data, dpos = block(m, off, "SESSION_SETUP_ANDX response")
    end = dpos + len(data)
    wc = len(words) // 2
    if wc == 0:
        return SessionSetupResponse(0, None, "", "")
    if wc not in (3, 4):
        raise Malformed(f"smb1: SESSION_SETUP_ANDX response WordCount {wc} not 3 or 4")
    (action,) = struct.unpack_from("<H", words, 4)
    blob = None
    pos = dpos
    if wc == 4:
        (blen,) = struct.unpack_from("<H", words, 6)
        if blen > len(data):
            raise Malformed(f"smb1: SecurityBlobLength {blen} exceeds the {len(data)}-byte data")
        blob = bytes(data[:blen])
        pos += blen
    nos, nlm = _strings(m, pos, end, unicode, 2)
    return SessionSetupResponse(action, blob, nos, nlm)


def tree_connect_request(m: memoryview, off: int, unicode: bool) -> tuple[str, str]:
    """MS-CIFS 2.2.4.55.1 TREE_CONNECT_ANDX request: (path, service)."""
    words, data, dpos = block(m, off, "TREE_CONNECT_ANDX request")
    if len(words) < 8:
        raise Malformed(f"smb1: TREE_CONNECT_ANDX request WordCount {len(words) // 2} < 4")
    (plen,) = struct.unpack_from("<H", words, 6)
    if plen > len(data):
        raise Malformed(f"smb1: PasswordLength {plen} exceeds the {len(data)}-byte data")
    end = dpos + len(data)
    (path,) = _strings(m, dpos + plen, end, unicode, 1)
    # Service is always OEM (MS-CIFS 2.2.4.55.1): skip the path's terminator, then read it
    pos = dpos + plen
    if unicode:
        pos += pos % 2
        pos += 2 * len(path) + 2
    else:
        pos += len(path.encode("cp437", "replace")) + 1
    (service,) = _strings(m, min(pos, end), end, False, 1)
    return path, service


def tree_connect_response(m: memoryview, off: int) -> str | None:
    """MS-CIFS 2.2.4.55.2 TREE_CONNECT_ANDX response: the Service ("IPC", "A:"), None on error."""
    words, data, dpos = block(m, off, "TREE_CONNECT_ANDX response")
    if not words:
        return None
    return _strings(m, dpos, dpos + len(data), False, 1)[0]


def trans_request(m: memoryview, command: int, unicode: bool) -> TransRequest:
    """TRANSACTION (2.2.4.33.1), TRANSACTION2 (2.2.4.46.1) or NT_TRANSACT (2.2.4.62.1) request."""
    words, data, dpos = block(m, HEADER_LEN, TRANS_NAMES.get(command, "transaction"))
    name = None
    if command == COM_NT_TRANSACT:
        if len(words) < _NTTRANS.size:
            raise Malformed(f"smb1: NT_TRANSACT WordCount {len(words) // 2} < 19")
        (_msc, _r, tpc, tdc, _mpc, _mdc, pc, _po, dc, _do, sc, func) = _NTTRANS.unpack_from(words)
        setup_at = _NTTRANS.size
        sub: int | None = func
    else:
        if len(words) < _TRANS.size:
            raise Malformed(f"smb1: {TRANS_NAMES[command]} WordCount {len(words) // 2} < 14")
        (tpc, tdc, _mpc, _mdc, _msc, _r1, _fl, _to, _r2, pc, _po, dc, _do, sc, _r3) = (
            _TRANS.unpack_from(words))
        setup_at = _TRANS.size
        sub = None
    if setup_at + 2 * sc > len(words):
        raise Malformed(f"smb1: SetupCount {sc} runs past WordCount {len(words) // 2}")
    setup = struct.unpack_from(f"<{sc}H", words, setup_at) if sc else ()
    if command != COM_NT_TRANSACT:
        sub = setup[0] if setup else None
    if command == COM_TRANSACTION:
        (name,) = _strings(m, dpos, dpos + len(data), unicode, 1)
    return TransRequest(command, sub, tuple(setup), tpc, tdc, pc, dc, name)
