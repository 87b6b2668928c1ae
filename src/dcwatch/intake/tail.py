"""Follow Samba's JSON audit log files across rotation (logrotate's rename or copytruncate).

The position (inode, offset, line number, the parser's Samba state) is saved in a small JSON file
only once the activities read up to it are stored on the bus or in the spool, so a restarted
sensor neither loses nor repeats lines. Line numbers count from the start of each file, as
``dcwatch scan`` counts them: the activities get the same uids either way.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO

from dcwatch.intake.parse import RecordParser
from dcwatch.model.activity import Activity
from dcwatch.sources.base import SourceStats

Emit = Callable[[list[Activity], Callable[[], None] | None], None]


class FileTail:
    """Reads complete lines appended to ``path``; call :meth:`run` in a thread."""

    def __init__(self, path: str, position_file: str | Path, poll: float = 0.2,
                 batch: int = 256) -> None:
        self.path = path
        self.position_file = Path(position_file)
        self.poll = poll
        self.batch = batch
        self.stats = SourceStats(path)
        self.at_eof = False
        self.rotations = 0

    def _load(self) -> dict[str, Any]:
        try:
            return json.loads(self.position_file.read_text())
        except (OSError, ValueError):
            return {}

    def _save(self, pos: dict[str, Any]) -> None:
        tmp = self.position_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(pos))
        os.replace(tmp, self.position_file)

    def _open(self) -> tuple[BinaryIO, int] | None:
        try:
            f = open(self.path, "rb")
        except OSError:
            return None
        return f, os.fstat(f.fileno()).st_ino

    def run(self, emit: Emit, stop: Callable[[], bool]) -> None:
        """Follow the file until ``stop()``; ``emit(activities, on_durable)`` ships a batch."""
        pos = self._load()
        f = None
        inode, offset = 0, 0
        parser = RecordParser(self.path, self.stats)
        rotated = False  # the name points at a new file: finish the old one first
        while not stop():
            if f is None:
                opened = self._open()
                if opened is None:
                    self.at_eof = True
                    time.sleep(self.poll)
                    continue
                f, inode = opened
                offset = 0
                parser = RecordParser(self.path, self.stats)
                size = os.fstat(f.fileno()).st_size
                if pos.get("inode") == inode and pos.get("offset", 0) <= size:
                    offset = int(pos["offset"])
                    parser.line = int(pos.get("line", 0))
                    parser.samba_state = dict(pos.get("samba") or {})
                f.seek(offset)
                rotated = False
            lines: list[bytes] = []
            start = offset
            while len(lines) < self.batch:
                line = f.readline()
                if not line.endswith(b"\n"):
                    f.seek(offset)  # a line still being written: read it whole later
                    break
                offset += len(line)
                lines.append(line)
            if lines:
                self.at_eof = False
                acts = parser.lines(lines)
                state = {"path": self.path, "inode": inode, "offset": offset,
                         "line": parser.line, "samba": dict(parser.samba_state)}
                emit(acts, partial(self._save, state))
                continue
            # At the end: rotated (a new file under the name) or truncated (copytruncate)?
            self.at_eof = True
            try:
                st = os.stat(self.path)
            except OSError:
                st = None
            if st is not None and st.st_ino != inode:
                if not rotated:
                    rotated = True  # read what was appended before the rename, then switch
                    continue
                f.close()
                f = None
                pos = {}
                self.rotations += 1
                continue
            if st is not None and st.st_size < offset:
                f.seek(0)
                offset, parser.line = 0, 0
                self.rotations += 1
                continue
            if start == offset:
                time.sleep(self.poll)
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()
