"""NDR 2.0 and NDR64 reading helpers (C706 chapter 14, MS-RPCE 2.2.5) for the stub decoders.

NDR64 (MS-RPCE 2.2.5) differs where the decoders care: pointers and conformance/variance counts
are 8 bytes (aligned 8), enums are 4 bytes, and structures holding pointers align to 8 (decoders
call ``struct_align()`` where a structure starts). Every read checks
the bounds of the stub and raises ``Malformed``; conformant counts are capped by the bytes left,
so a hostile count cannot make a decoder allocate or loop beyond the stub size.
"""

from __future__ import annotations

import struct
import uuid

from dcwatch.errors import Malformed

_LE = {
    1: struct.Struct("<B"),
    2: struct.Struct("<H"),
    4: struct.Struct("<I"),
    8: struct.Struct("<Q"),
}
_BE = {
    1: struct.Struct(">B"),
    2: struct.Struct(">H"),
    4: struct.Struct(">I"),
    8: struct.Struct(">Q"),
}
MAX_ITEMS = 4096  # cap on decoded list lengths kept in activity args (the count is still reported)


class NdrReader:
    """Sequential NDR reader over one stub (``memoryview`` underneath, no copies)."""

    __slots__ = ("_e", "_s", "buf", "end", "ndr64", "pos")

    def __init__(
        self, data: bytes | memoryview, little_endian: bool = True, ndr64: bool = False
    ) -> None:
        self.buf = memoryview(data) if not isinstance(data, memoryview) else data
        self.pos = 0
        self.end = len(self.buf)
        self._s = _LE if little_endian else _BE
        self._e = "<" if little_endian else ">"
        self.ndr64 = ndr64

    # ---- primitives
    def need(self, n: int, what: str = "value") -> None:
        """Raise Malformed unless ``n`` more bytes are available."""
        if n < 0 or self.pos + n > self.end:
            raise Malformed(
                f"ndr: {what} needs {n} bytes at offset {self.pos}, "
                f"stub has {self.end - self.pos} left"
            )

    def align(self, n: int) -> None:
        """Skip padding to a multiple of ``n`` (NDR alignment of primitives)."""
        self.pos = (self.pos + n - 1) & ~(n - 1)
        if self.pos > self.end:
            raise Malformed(f"ndr: alignment to {n} passes the end of the stub ({self.end})")

    def _num(self, size: int, what: str) -> int:
        pos = (self.pos + size - 1) & ~(size - 1)
        if pos + size > self.end:  # the checks of align() and need(), with their messages
            self.align(size)
            self.need(size, what)
        v = self._s[size].unpack_from(self.buf, pos)[0]
        self.pos = pos + size
        return v

    def u8(self, what: str = "u8") -> int:
        """Unsigned 8-bit."""
        return self._num(1, what)

    def u16(self, what: str = "u16") -> int:
        """Unsigned 16-bit (aligned 2)."""
        return self._num(2, what)

    def enum(self, what: str = "enum") -> int:
        """An IDL enum: 16 bits in NDR20 (C706 14.2.5), 32 bits in NDR64 (MS-RPCE 2.2.5.3.4.1)."""
        return self._num(4 if self.ndr64 else 2, what)

    def struct_align(self) -> None:
        """Start of a structure holding pointers: aligned 8 in NDR64, 4 in NDR20."""
        self.align(8 if self.ndr64 else 4)

    def conf(self, what: str = "count") -> int:
        """A conformance/variance count: u32 in NDR20, u64 in NDR64."""
        return self._num(8 if self.ndr64 else 4, what)

    def u32(self, what: str = "u32") -> int:
        """Unsigned 32-bit (aligned 4)."""
        return self._num(4, what)

    def u64(self, what: str = "u64") -> int:
        """Unsigned 64-bit (aligned 8)."""
        return self._num(8, what)

    def ptr(self, what: str = "pointer") -> int:
        """A unique/full pointer referent id (0 = NULL): 4 bytes, 8 in NDR64."""
        return self._num(8 if self.ndr64 else 4, what)

    def raw(self, n: int, what: str = "bytes") -> bytes:
        """``n`` raw bytes (no alignment)."""
        self.need(n, what)
        out = bytes(self.buf[self.pos : self.pos + n])
        self.pos += n
        return out

    def skip(self, n: int, what: str = "bytes") -> None:
        """Skip ``n`` bytes."""
        self.need(n, what)
        self.pos += n

    @property
    def left(self) -> int:
        """Bytes left in the stub."""
        return self.end - self.pos

    # ---- composite
    def guid(self, what: str = "guid") -> str:
        """A GUID (MS-DTYP 2.3.4.2, little-endian fields) as text (aligned 4)."""
        self.align(4)
        return str(uuid.UUID(bytes_le=self.raw(16, what)))

    def handle(self, what: str = "context handle") -> str:
        """A 20-byte context handle (C706 14.3.10, ndr_context_handle) as hex."""
        self.align(4)
        return self.raw(20, what).hex()

    def count(self, what: str, unit: int = 1) -> int:
        """A conformance/variance count, checked against the bytes left (``unit`` bytes each)."""
        n = self.conf(what)
        if n * unit > self.left:
            raise Malformed(f"ndr: {what} {n} x {unit} bytes exceeds the {self.left} bytes left")
        return n

    def wstr(self, what: str = "string") -> str:
        """Conformant varying UTF-16 string ([string] wchar_t*, C706 14.3.4): text without NUL."""
        size = 8 if self.ndr64 else 4
        pos = (self.pos + size - 1) & ~(size - 1)
        start = pos + 3 * size
        if start <= self.end:  # fast path: the three counts at once, messages built on error only
            n = self._s[size].unpack_from(self.buf, pos + 2 * size)[0]
            stop = start + 2 * n
            if stop <= self.end:
                self.pos = stop
                return str(self.buf[start:stop], "utf-16-le", "replace").rstrip("\x00")
        return self._wstr(what)

    def _wstr(self, what: str) -> str:
        """``wstr`` one field at a time (exact error messages)."""
        self.conf(f"{what} max count")
        self.conf(f"{what} offset")
        n = self.count(f"{what} actual count", 2)
        raw = self.raw(n * 2, what)
        return raw.decode("utf-16-le", "replace").rstrip("\x00")

    def cstr(self, what: str = "string") -> str:
        """Conformant varying 8-bit string ([string] char*): text without NUL."""
        self.conf(f"{what} max count")
        self.conf(f"{what} offset")
        n = self.count(f"{what} actual count")
        return self.raw(n, what).decode("latin-1").rstrip("\x00")

    def unique_wstr(self, what: str = "string") -> str | None:
        """[unique, string] wchar_t*: referent id then the string, or None."""
        return self.wstr(what) if self.ptr(what) else None

    def unique_cstr(self, what: str = "string") -> str | None:
        """[unique, string] char*: referent id then the string, or None."""
        return self.cstr(what) if self.ptr(what) else None

    def ustr_header(self, what: str = "RPC_UNICODE_STRING") -> int:
        """RPC_UNICODE_STRING (MS-DTYP 2.3.10) inline part; returns the Buffer referent id."""
        self.struct_align()
        self.u16(f"{what} Length")
        self.u16(f"{what} MaximumLength")
        return self.ptr(f"{what} Buffer")

    def ustr_body(self, what: str = "RPC_UNICODE_STRING") -> str:
        """Deferred Buffer of an RPC_UNICODE_STRING: conformant varying WCHAR array."""
        return self.wstr(what)

    def ustr(self, what: str = "RPC_UNICODE_STRING") -> str | None:
        """RPC_UNICODE_STRING passed by [ref] at top level: header then its deferred buffer."""
        ref = self.ustr_header(what)
        return self.ustr_body(what) if ref else None

    def sid(self, what: str = "RPC_SID") -> str:
        """RPC_SID (MS-DTYP 2.4.2.3): conformant count, revision, count, authority, subauths."""
        n = self.count(f"{what} conformance", 4)
        rev = self.u8(f"{what} Revision")
        sub = self.u8(f"{what} SubAuthorityCount")
        if sub != n:
            raise Malformed(f"ndr: {what} SubAuthorityCount {sub} differs from conformance {n}")
        auth = int.from_bytes(self.raw(6, f"{what} IdentifierAuthority"), "big")
        self.need(4 * n, what)
        subs = struct.unpack_from(f"{self._e}{n}I", self.buf, self.pos) if n else ()
        self.pos += 4 * n
        return "S-" + "-".join([str(rev), str(auth), *map(str, subs)])

    def u32_array(self, what: str = "array") -> list[int]:
        """Conformant array of u32 (max count, then values)."""
        n = self.count(f"{what} count", 4)
        self.need(4 * n, what)
        vals = list(struct.unpack_from(f"{self._e}{n}I", self.buf, self.pos)) if n else []
        self.pos += 4 * n
        return vals[:MAX_ITEMS]

    def struct_array(self, layout: str, what: str = "array") -> list[list[object]]:
        """Conformant array of flat structs of ``p`` (unique [string] wchar pointers) and ``d``
        (u32) members, followed by the deferred strings in pointer order (C706 14.3.12.3).

        Returns one list per element with strings (or None) in place of the pointers.
        """
        n = self.count(f"{what} count", 4 * len(layout))
        rows: list[list[object]] = []
        for _ in range(n):
            self.struct_align()
            rows.append([self.ptr(what) if c == "p" else self.u32(what) for c in layout])
        for row in rows:
            for i, c in enumerate(layout):
                if c == "p":
                    row[i] = self.wstr(what) if row[i] else None
        return rows[:MAX_ITEMS]
