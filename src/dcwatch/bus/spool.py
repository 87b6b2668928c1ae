"""The sensor's disk spool: append-only segment files of envelopes, bounded in size.

Used while the bus is unreachable (and until it is drained, so order is kept). Segments are
JSON lines named by a growing number; the oldest is sent and removed first. Past ``max_bytes``
the oldest segments are dropped, their records counted in ``dropped`` (kept in a file: the count
survives restarts and travels in the sensor's marks, where the center raises a health issue).
A line cut short by a crash is skipped when read back.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

from dcwatch.bus.wire import Envelope

SUFFIX = ".seg"


class Spool:
    """A bounded FIFO of envelopes on disk."""

    def __init__(self, root: str | Path, max_bytes: int = 1 << 30,
                 segment_bytes: int = 8 << 20, fsync: bool = False) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.segment_bytes = min(segment_bytes, max(max_bytes // 4, 4096))
        self.fsync = fsync
        self._out: BinaryIO | None = None
        self._out_path: Path | None = None
        self._dropped_file = self.root / "dropped"
        self.dropped = int(self._dropped_file.read_text() or 0) \
            if self._dropped_file.exists() else 0
        self.corrupt = 0

    def segments(self) -> list[Path]:
        """Segment files, oldest first."""
        return sorted(self.root.glob(f"*{SUFFIX}"), key=lambda p: int(p.stem))

    def __len__(self) -> int:
        return len(self.segments())

    def size(self) -> int:
        """Bytes on disk."""
        return sum(p.stat().st_size for p in self.segments())

    def append(self, items: list[Envelope]) -> None:
        """Add envelopes at the end (flushed; fsync'd when asked)."""
        if not items:
            return
        if self._out is None or self._out.tell() >= self.segment_bytes:
            self._roll()
        assert self._out is not None
        self._out.write(b"".join(e.to_line() + b"\n" for e in items))
        self._out.flush()
        if self.fsync:
            os.fsync(self._out.fileno())
        self._enforce_bound()

    def _roll(self) -> None:
        self._close()
        segs = self.segments()
        n = int(segs[-1].stem) + 1 if segs else 1
        self._out_path = self.root / f"{n:012d}{SUFFIX}"
        self._out = self._out_path.open("ab")

    def _close(self) -> None:
        if self._out is not None:
            self._out.close()
        self._out = None
        self._out_path = None

    def _enforce_bound(self) -> None:
        segs = self.segments()
        total = sum(p.stat().st_size for p in segs)
        while total > self.max_bytes and len(segs) > 1:
            oldest = segs.pop(0)
            total -= oldest.stat().st_size
            self.dropped += sum(_activities(line) for line in oldest.read_bytes().split(b"\n")
                                if line and b'.activities"' in line[:200])
            oldest.unlink()
            self._dropped_file.write_text(str(self.dropped))

    def oldest(self) -> tuple[Path, list[Envelope]] | None:
        """The oldest segment and its envelopes (the segment being written is closed first)."""
        segs = self.segments()
        if not segs:
            return None
        path = segs[0]
        if path == self._out_path:
            self._close()
        out = []
        for line in path.read_bytes().split(b"\n"):
            if not line:
                continue
            try:
                out.append(Envelope.from_line(line))
            except (ValueError, TypeError):
                self.corrupt += 1  # a line cut short by a crash
        return path, out

    def remove(self, path: Path) -> None:
        """Forget a segment once its envelopes are stored on the bus."""
        path.unlink(missing_ok=True)

    def close(self) -> None:
        self._close()


def _activities(line: bytes) -> int:
    """How many activities a spooled activity message carries (1 if the line is cut short)."""
    try:
        return Envelope.from_line(line).activities
    except (ValueError, TypeError):
        return 1
