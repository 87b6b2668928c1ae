"""Registry.pol, the registry-policy file of a GPO in SYSVOL (MS-GPREG 2.1 "PReg" format).

A 4-byte signature ``PReg``, a 4-byte version (1), then entries
``[key;value;type;size;data]`` where the brackets and semicolons are UTF-16LE characters, key
and value are NUL-terminated UTF-16LE strings, type and size are 32-bit little-endian and data
is ``size`` raw bytes. The SMB analyzer parses the bytes a client writes to such a file so
detectors see the policy settings (gpo-tampering: Defender switched off).
"""

from __future__ import annotations

import struct
from typing import Any

from dcwatch.errors import Malformed

SIGNATURE = b"PReg"
REG_SZ, REG_EXPAND_SZ, REG_BINARY, REG_DWORD, REG_MULTI_SZ, REG_QWORD = 1, 2, 3, 4, 7, 11
MAX_ENTRIES = 4096
_OPEN, _SEP, _CLOSE = "[".encode("utf-16-le"), ";".encode("utf-16-le"), "]".encode("utf-16-le")


def is_preg(data: bytes) -> bool:
    return len(data) >= 8 and data[:4] == SIGNATURE


def _string(buf: bytes, at: int) -> tuple[str, int]:
    """A NUL-terminated UTF-16LE string at ``at``; returns (text, offset after the NUL)."""
    end = at
    while True:
        end = buf.find(b"\x00\x00", end)
        if end < 0:
            raise Malformed("registry.pol: unterminated string")
        if (end - at) % 2 == 0:
            break
        end += 1
    return buf[at:end].decode("utf-16-le", "replace"), end + 2


def _expect(buf: bytes, at: int, token: bytes, what: str) -> int:
    if buf[at : at + 2] != token:
        raise Malformed(f"registry.pol: expected {what} at offset {at}")
    return at + 2


def _value(typ: int, raw: bytes) -> Any:
    if typ == REG_DWORD and len(raw) == 4:
        return struct.unpack("<I", raw)[0]
    if typ == REG_QWORD and len(raw) == 8:
        return struct.unpack("<Q", raw)[0]
    if typ in (REG_SZ, REG_EXPAND_SZ, REG_MULTI_SZ):
        return raw.decode("utf-16-le", "replace").rstrip("\x00")
    return raw.hex()


def parse(data: bytes) -> list[dict[str, Any]]:
    """The entries of a Registry.pol file: [{key, value, type, data}]. Raises Malformed."""
    if not is_preg(data):
        raise Malformed("registry.pol: no PReg signature")
    (version,) = struct.unpack_from("<I", data, 4)
    if version != 1:
        raise Malformed(f"registry.pol: version {version}, expected 1")
    out: list[dict[str, Any]] = []
    at = 8
    while at < len(data) and len(out) < MAX_ENTRIES:
        at = _expect(data, at, _OPEN, "'['")
        key, at = _string(data, at)
        at = _expect(data, at, _SEP, "';'")
        value, at = _string(data, at)
        at = _expect(data, at, _SEP, "';'")
        if at + 10 > len(data):
            raise Malformed("registry.pol: entry cut short")
        (typ,) = struct.unpack_from("<I", data, at)
        at = _expect(data, at + 4, _SEP, "';'")
        (size,) = struct.unpack_from("<I", data, at)
        at = _expect(data, at + 4, _SEP, "';'")
        if at + size + 2 > len(data):
            raise Malformed(f"registry.pol: data of {size} bytes exceeds the file")
        raw = data[at : at + size]
        at = _expect(data, at + size, _CLOSE, "']'")
        out.append({"key": key, "value": value, "type": typ, "data": _value(typ, raw)})
    return out


def build(entries: list[tuple[str, str, int, bytes]]) -> bytes:
    """A Registry.pol file from (key, value, type, raw data) entries (tests, lab)."""
    out = bytearray(SIGNATURE + struct.pack("<I", 1))
    for key, value, typ, raw in entries:
        out += _OPEN + (key + "\x00").encode("utf-16-le") + _SEP
        out += (value + "\x00").encode("utf-16-le") + _SEP
        out += struct.pack("<I", typ) + _SEP + struct.pack("<I", len(raw)) + _SEP + raw + _CLOSE
    return bytes(out)
