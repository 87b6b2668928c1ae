"""NetBIOS session service framing (RFC 1002 4.3, MS-SMB2 2.1 Direct TCP transport).

Each SMB message is preceded by a 4-byte header: type (0 = session message) and a 24-bit
big-endian length (Direct TCP on 445; the 17-bit NBSS length on 139 reads the same). Large
messages whose body the analyzer does not need (bulk READ/WRITE on files, encrypted messages)
are decided from a short prefix and then skipped as they arrive, without being buffered.
"""

from __future__ import annotations

import struct
from collections.abc import Callable

SESSION_MESSAGE = 0x00  # RFC 1002 4.3.1
BULK_THRESHOLD = 16 * 1024  # bodies larger than this are first offered as a prefix
PREFIX_LEN = 128  # enough for the SMB2 header + READ/WRITE fixed part, or a transform header
MAX_MESSAGE = 1 << 24  # 24-bit length
_MARKERS = (b"\xfeSMB", b"\xffSMB", b"\xfdSMB", b"\xfcSMB")
_HEADER = struct.Struct(">I").unpack_from  # type (8 bits) and length (24 bits), one read


class NbssFramer:
    """Split one direction's byte stream into SMB messages; skip bulk bodies without copying."""

    __slots__ = ("_buf", "_full", "_need", "_skip", "lost", "on_message", "on_prefix")

    def __init__(
        self,
        on_message: Callable[[memoryview], None],
        on_prefix: Callable[[memoryview, int], bool],
    ) -> None:
        self.on_message = on_message  # one complete message body (NBSS header removed)
        self.on_prefix = on_prefix  # (first PREFIX_LEN bytes, body length) -> True: skip it
        self._buf = bytearray()
        self._skip = 0
        self._need = 4
        self._full = False  # the prefix was offered and declined: buffer the whole message
        self.lost = False

    def gap(self) -> None:
        """Bytes were lost: drop the partial message and resynchronise on the next SMB header."""
        self._buf.clear()
        self._skip = 0
        self._need = 4
        self._full = False
        self.lost = True

    def feed(self, data: bytes | memoryview) -> None:
        """In-order bytes of this direction."""
        if not self._buf and not self._skip and not self.lost:
            # One whole session message and nothing else (most segments of an SMB exchange):
            # what _process would do, without its loop (header = type 0, length n - 4)
            n = len(data)
            if 4 <= n <= MAX_MESSAGE + 3 and _HEADER(data, 0)[0] == n - 4:
                self._full = False
                self.on_message(memoryview(data)[4:])
                self._need = 4
                return
        mv = memoryview(data)
        if self._skip:
            n = min(self._skip, len(mv))
            self._skip -= n
            mv = mv[n:]
            if not mv:
                return
        if self.lost:
            self._buf += mv
            if not self._resync():
                return
            mv = memoryview(b"")
        elif not self._buf:
            used = self._process(mv)
            if used < len(mv):
                self._buf += mv[used:]
            return
        else:
            self._buf += mv
        if len(self._buf) < self._need:
            return
        snapshot = bytes(self._buf)
        used = self._process(memoryview(snapshot))
        del self._buf[:used]

    def _resync(self) -> bool:
        """Find ``00 xx xx xx`` + an SMB protocol id; keep the buffer from there."""
        buf = self._buf
        best = -1
        for marker in _MARKERS:
            i = buf.find(marker, 4)
            while i != -1 and buf[i - 4] != SESSION_MESSAGE:
                i = buf.find(marker, i + 1)
            if i != -1 and (best == -1 or i < best):
                best = i
        if best == -1:
            del buf[: max(0, len(buf) - 7)]  # keep a tail that may hold a split marker
            return False
        del buf[: best - 4]
        self.lost = False
        self._need = 4
        return True

    def _process(self, view: memoryview) -> int:
        """Hand complete messages on; returns the bytes consumed (the rest waits for more)."""
        pos = 0
        end = len(view)
        while True:
            avail = end - pos
            if avail < 4:
                self._need = 4
                return pos
            word = _HEADER(view, pos)[0]
            kind = word >> 24
            length = word & 0xFFFFFF
            total = 4 + length
            if kind != SESSION_MESSAGE:  # session request/response, keepalive: no SMB inside
                if avail >= total:
                    pos += total
                    continue
                self._skip = total - avail
                self._need = 4
                return end
            if avail >= total:
                self._full = False
                self.on_message(view[pos + 4 : pos + total])
                pos += total
                continue
            if length > BULK_THRESHOLD and not self._full:
                if avail < 4 + PREFIX_LEN:
                    self._need = 4 + PREFIX_LEN
                    return pos
                if self.on_prefix(view[pos + 4 : pos + 4 + PREFIX_LEN], length):
                    self._skip = total - avail
                    self._need = 4
                    return end
                self._full = True
            self._need = total
            return pos
