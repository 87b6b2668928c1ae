"""SMB1 (MS-CIFS 2.2.3.1, 2.2.4.52): only the negotiate dialects; other commands are counted.

A client offering ``NT LM 0.12`` alongside ``SMB 2.???`` is the normal Windows opening; a server
answering in SMB1 means SMB1 is enabled (WannaCry-era exposure).
"""

from __future__ import annotations

import struct

from dcwatch.errors import Malformed

PROTOCOL_ID = b"\xffSMB"  # MS-CIFS 2.2.3.1
HEADER_LEN = 32
COM_NEGOTIATE = 0x72  # MS-CIFS 2.2.4.52
FLAGS_REPLY = 0x80  # MS-CIFS 2.2.3.1 Flags SMB_FLAGS_REPLY


def parse_header(m: memoryview) -> tuple[int, int, bool]:
    """(command, status, is_reply) of an SMB1 message."""
    if len(m) < HEADER_LEN or bytes(m[:4]) != PROTOCOL_ID:
        raise Malformed(f"smb1: message of {len(m)} bytes without a 32-byte \\xffSMB header")
    cmd = m[4]
    (status,) = struct.unpack_from("<I", m, 5)
    return cmd, status, bool(m[9] & FLAGS_REPLY)


def negotiate_dialects(m: memoryview) -> list[str]:
    """MS-CIFS 2.2.4.52.1 SMB_COM_NEGOTIATE request: the dialect strings offered."""
    if len(m) < HEADER_LEN + 3:
        raise Malformed("smb1: NEGOTIATE request without WordCount/ByteCount")
    wc = m[HEADER_LEN]
    pos = HEADER_LEN + 1 + 2 * wc
    if pos + 2 > len(m):
        raise Malformed("smb1: NEGOTIATE ByteCount runs past the message")
    (bc,) = struct.unpack_from("<H", m, pos)
    data = bytes(m[pos + 2 : pos + 2 + bc])
    if len(data) != bc:
        raise Malformed(f"smb1: NEGOTIATE ByteCount {bc} exceeds the {len(data)} bytes left")
    out = []
    for part in data.split(b"\x00"):
        if part.startswith(b"\x02"):  # BufferFormat 0x02: dialect string
            out.append(part[1:].decode("latin-1"))
    return out


def negotiate_response_index(m: memoryview) -> int | None:
    """MS-CIFS 2.2.4.52.2 SMB_COM_NEGOTIATE response: DialectIndex (0xFFFF: none accepted)."""
    if len(m) < HEADER_LEN + 3 or m[HEADER_LEN] == 0:
        return None
    return struct.unpack_from("<H", m, HEADER_LEN + 1)[0]
