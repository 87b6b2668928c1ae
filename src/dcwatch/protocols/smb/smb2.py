"""SMB2/3 message parsing (MS-SMB2 2.2): header and the fixed parts of the commands we follow.

Pure functions over a memoryview of one SMB2 message (header included; offsets in the message
are relative to the header, as the spec defines them). Every offset/length is bounds-checked
and raises ``Malformed``. The analyzer (``smb.analyzer``) holds the state.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from dcwatch.errors import Malformed

PROTOCOL_ID = b"\xfeSMB"  # MS-SMB2 2.2.1
TRANSFORM_ID = b"\xfdSMB"  # MS-SMB2 2.2.41
COMPRESSION_ID = b"\xfcSMB"  # MS-SMB2 2.2.42
HEADER_LEN = 64

# MS-SMB2 2.2.1.2 Command
NEGOTIATE = 0x00
SESSION_SETUP = 0x01
LOGOFF = 0x02
TREE_CONNECT = 0x03
TREE_DISCONNECT = 0x04
CREATE = 0x05
CLOSE = 0x06
FLUSH = 0x07
READ = 0x08
WRITE = 0x09
LOCK = 0x0A
IOCTL = 0x0B
CANCEL = 0x0C
ECHO = 0x0D
QUERY_DIRECTORY = 0x0E
CHANGE_NOTIFY = 0x0F
QUERY_INFO = 0x10
SET_INFO = 0x11
OPLOCK_BREAK = 0x12

# MS-SMB2 2.2.1.2 Flags
FLAG_RESPONSE = 0x00000001
FLAG_ASYNC = 0x00000002
FLAG_RELATED = 0x00000004
FLAG_SIGNED = 0x00000008

# MS-ERREF 2.3.1 NTSTATUS values SMB2 flow control depends on
STATUS_SUCCESS = 0x00000000
STATUS_PENDING = 0x00000103
STATUS_BUFFER_OVERFLOW = 0x80000005
STATUS_MORE_PROCESSING_REQUIRED = 0xC0000016

# MS-SMB2 2.2.4 DialectRevision
DIALECTS = {
    0x0202: "2.0.2",
    0x0210: "2.1",
    0x0222: "2.2.2",
    0x0224: "2.2.4",
    0x0300: "3.0",
    0x0302: "3.0.2",
    0x0310: "3.1",
    0x0311: "3.1.1",
    0x02FF: "2.???",
}
# MS-SMB2 2.2.6 SessionFlags
SESSION_FLAG_IS_GUEST = 0x0001
SESSION_FLAG_IS_NULL = 0x0002
SESSION_FLAG_ENCRYPT_DATA = 0x0004
# MS-SMB2 2.2.10 ShareType
SHARE_TYPES = {1: "disk", 2: "pipe", 3: "print"}
# MS-SMB2 2.2.13 CreateDisposition
DISPOSITIONS = {
    0: "supersede",
    1: "open",
    2: "create",
    3: "open_if",
    4: "overwrite",
    5: "overwrite_if",
}
# MS-FSCC 2.3.49 FSCTL_PIPE_TRANSCEIVE
FSCTL_PIPE_TRANSCEIVE = 0x0011C017
NULL_FILE_ID = b"\xff" * 16  # MS-SMB2 3.2.4.1.4: "use the FileId of the previous compounded create"

_HDR = struct.Struct("<4sHHIHHIIQQQ")


@dataclass(slots=True)
class Header:
    """SMB2 sync or async header (MS-SMB2 2.2.1.1/2.2.1.2)."""

    command: int
    status: int
    flags: int
    next_command: int
    message_id: int
    async_id: int | None
    tree_id: int | None
    session_id: int
    credit_charge: int

    @property
    def is_response(self) -> bool:
        """SMB2_FLAGS_SERVER_TO_REDIR."""
        return bool(self.flags & FLAG_RESPONSE)

    @property
    def interim(self) -> bool:
        """An async STATUS_PENDING interim response (MS-SMB2 3.3.4.2): the real one follows."""
        return self.status == STATUS_PENDING and bool(self.flags & FLAG_ASYNC)


def parse_header(m: memoryview) -> Header:
    """The 64-byte SMB2 header of message ``m``."""
    if len(m) < HEADER_LEN:
        raise Malformed(f"smb2: message of {len(m)} bytes is shorter than the 64-byte header")
    (pid, size, charge, status, cmd, _credits, flags, nxt, mid, word, sid) = _HDR.unpack_from(m)
    if pid != PROTOCOL_ID or size != HEADER_LEN:
        raise Malformed(f"smb2: header id {bytes(pid)!r} size {size}, expected \\xfeSMB 64")
    if flags & FLAG_ASYNC:
        async_id, tree_id = word, None
    else:
        async_id, tree_id = None, word >> 32
    return Header(cmd, status, flags, nxt, mid, async_id, tree_id, sid, charge)


def _need(m: memoryview, size: int, what: str) -> None:
    if len(m) < size:
        raise Malformed(f"smb2: {what} needs {size} bytes, message has {len(m)}")


def buffer_at(m: memoryview, offset: int, length: int, what: str) -> memoryview:
    """A variable-length field at an offset from the header; Malformed when out of bounds."""
    if length == 0:
        return m[0:0]
    if offset < HEADER_LEN or offset + length > len(m):
        raise Malformed(
            f"smb2: {what} at offset {offset} length {length} outside the {len(m)}-byte message"
        )
    return m[offset : offset + length]


def is_error_body(m: memoryview) -> bool:
    """An ERROR response (MS-SMB2 2.2.2): StructureSize 9 in place of the command's body."""
    return len(m) >= HEADER_LEN + 2 and struct.unpack_from("<H", m, HEADER_LEN)[0] == 9


def negotiate_request(m: memoryview) -> list[int]:
    """MS-SMB2 2.2.3 NEGOTIATE request: offered dialect revisions."""
    _need(m, HEADER_LEN + 36, "NEGOTIATE request")
    (count,) = struct.unpack_from("<H", m, HEADER_LEN + 2)
    _need(m, HEADER_LEN + 36 + 2 * count, "NEGOTIATE dialects")
    return list(struct.unpack_from(f"<{count}H", m, HEADER_LEN + 36))


def negotiate_response(m: memoryview) -> tuple[int, int, memoryview]:
    """MS-SMB2 2.2.4 NEGOTIATE response: (dialect, security mode, security blob)."""
    _need(m, HEADER_LEN + 64, "NEGOTIATE response")
    mode, dialect = struct.unpack_from("<HH", m, HEADER_LEN + 2)
    off, length = struct.unpack_from("<HH", m, HEADER_LEN + 56)
    return dialect, mode, buffer_at(m, off, length, "NEGOTIATE security buffer")


def session_setup_request(m: memoryview) -> tuple[int, memoryview]:
    """MS-SMB2 2.2.5 SESSION_SETUP request: (flags, security blob)."""
    _need(m, HEADER_LEN + 24, "SESSION_SETUP request")
    flags = m[HEADER_LEN + 2]
    off, length = struct.unpack_from("<HH", m, HEADER_LEN + 12)
    return flags, buffer_at(m, off, length, "SESSION_SETUP security buffer")


def session_setup_response(m: memoryview) -> tuple[int, memoryview]:
    """MS-SMB2 2.2.6 SESSION_SETUP response: (session flags, security blob)."""
    _need(m, HEADER_LEN + 8, "SESSION_SETUP response")
    flags, off, length = struct.unpack_from("<HHH", m, HEADER_LEN + 2)
    return flags, buffer_at(m, off, length, "SESSION_SETUP response security buffer")


def tree_connect_request(m: memoryview) -> str:
    """MS-SMB2 2.2.9 TREE_CONNECT request: the share path (\\\\server\\share)."""
    _need(m, HEADER_LEN + 8, "TREE_CONNECT request")
    flags, off, length = struct.unpack_from("<HHH", m, HEADER_LEN + 2)
    if flags & 0x0004:
        # SMB2_TREE_CONNECT_FLAG_EXTENSION_PRESENT (2.2.9.1): the buffer is an extension
        # {TreeConnectContextOffset(4), Count(2), Reserved(10), PathName}; contexts follow it
        _need(m, off + 16, "TREE_CONNECT extension")
        (ctx_off,) = struct.unpack_from("<I", m, off)
        plen = (ctx_off - 16) if ctx_off > 16 else length - 16
        return bytes(buffer_at(m, off + 16, max(plen, 0), "TREE_CONNECT path")).decode(
            "utf-16-le", "replace"
        )
    return bytes(buffer_at(m, off, length, "TREE_CONNECT path")).decode("utf-16-le", "replace")


def tree_connect_response(m: memoryview) -> int:
    """MS-SMB2 2.2.10 TREE_CONNECT response: ShareType."""
    _need(m, HEADER_LEN + 16, "TREE_CONNECT response")
    return m[HEADER_LEN + 2]


@dataclass(slots=True)
class CreateRequest:
    """MS-SMB2 2.2.13 CREATE request fields the detectors use."""

    name: str
    access: int
    disposition: int
    options: int
    share_access: int


def create_request(m: memoryview) -> CreateRequest:
    """MS-SMB2 2.2.13 CREATE request."""
    _need(m, HEADER_LEN + 56, "CREATE request")
    access, _attrs, share, disp, opts, noff, nlen = struct.unpack_from(
        "<IIIIIHH", m, HEADER_LEN + 24
    )
    name = bytes(buffer_at(m, noff, nlen, "CREATE name")).decode("utf-16-le", "replace")
    return CreateRequest(name, access, disp, opts, share)


def create_response(m: memoryview) -> tuple[bytes, int]:
    """MS-SMB2 2.2.14 CREATE response: (FileId, CreateAction)."""
    _need(m, HEADER_LEN + 88, "CREATE response")
    (action,) = struct.unpack_from("<I", m, HEADER_LEN + 4)
    return bytes(m[HEADER_LEN + 64 : HEADER_LEN + 80]), action


def close_request(m: memoryview) -> bytes:
    """MS-SMB2 2.2.15 CLOSE request: FileId."""
    _need(m, HEADER_LEN + 24, "CLOSE request")
    return bytes(m[HEADER_LEN + 8 : HEADER_LEN + 24])


def read_request(m: memoryview) -> tuple[bytes, int]:
    """MS-SMB2 2.2.19 READ request: (FileId, Length)."""
    _need(m, HEADER_LEN + 48, "READ request")
    (length,) = struct.unpack_from("<I", m, HEADER_LEN + 4)
    return bytes(m[HEADER_LEN + 16 : HEADER_LEN + 32]), length


def read_response_header(m: memoryview) -> tuple[int, int]:
    """MS-SMB2 2.2.20 READ response: (DataOffset, DataLength) without touching the data."""
    _need(m, HEADER_LEN + 16, "READ response")
    return m[HEADER_LEN + 2], struct.unpack_from("<I", m, HEADER_LEN + 4)[0]


def write_request_header(m: memoryview) -> tuple[bytes, int, int]:
    """MS-SMB2 2.2.21 WRITE request: (FileId, DataOffset, Length) without touching the data."""
    _need(m, HEADER_LEN + 48, "WRITE request")
    off, length = struct.unpack_from("<HI", m, HEADER_LEN + 2)
    return bytes(m[HEADER_LEN + 16 : HEADER_LEN + 32]), off, length


def write_response(m: memoryview) -> int:
    """MS-SMB2 2.2.22 WRITE response: Count."""
    _need(m, HEADER_LEN + 16, "WRITE response")
    return struct.unpack_from("<I", m, HEADER_LEN + 4)[0]


def ioctl_request(m: memoryview) -> tuple[int, bytes, memoryview]:
    """MS-SMB2 2.2.31 IOCTL request: (CtlCode, FileId, input buffer)."""
    _need(m, HEADER_LEN + 56, "IOCTL request")
    (code,) = struct.unpack_from("<I", m, HEADER_LEN + 4)
    fid = bytes(m[HEADER_LEN + 8 : HEADER_LEN + 24])
    ioff, ilen = struct.unpack_from("<II", m, HEADER_LEN + 24)
    return code, fid, buffer_at(m, ioff, ilen, "IOCTL input")


def ioctl_response(m: memoryview) -> tuple[int, bytes, memoryview]:
    """MS-SMB2 2.2.32 IOCTL response: (CtlCode, FileId, output buffer)."""
    _need(m, HEADER_LEN + 48, "IOCTL response")
    (code,) = struct.unpack_from("<I", m, HEADER_LEN + 4)
    fid = bytes(m[HEADER_LEN + 8 : HEADER_LEN + 24])
    ooff, olen = struct.unpack_from("<II", m, HEADER_LEN + 32)
    return code, fid, buffer_at(m, ooff, olen, "IOCTL output")


# MS-SMB2 2.2.42 COMPRESSION_TRANSFORM_HEADER Flags
COMPRESSION_FLAG_CHAINED = 0x0001
COMPRESSION_HEADER_LEN = 16


def compression_header(m: memoryview) -> tuple[int, int, int, int]:
    """MS-SMB2 2.2.42.1/2.2.42.2 COMPRESSION_TRANSFORM_HEADER: (OriginalCompressedSegmentSize,
    CompressionAlgorithm, Flags, Offset - or Length when Flags says chained)."""
    _need(m, COMPRESSION_HEADER_LEN, "COMPRESSION_TRANSFORM_HEADER")
    size, algo, flags, off = struct.unpack_from("<IHHI", m, 4)
    return size, algo, flags, off


def transform_session(m: memoryview) -> tuple[int, int]:
    """MS-SMB2 2.2.41 TRANSFORM_HEADER: (OriginalMessageSize, SessionId)."""
    _need(m, 52, "TRANSFORM_HEADER")
    size = struct.unpack_from("<I", m, 36)[0]
    sid = struct.unpack_from("<Q", m, 44)[0]
    return size, sid


def dialect_name(revision: int) -> str:
    """Text of a DialectRevision (``0x0311`` -> ``3.1.1``)."""
    return DIALECTS.get(revision, f"0x{revision:04x}")
