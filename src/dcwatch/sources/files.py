"""Inputs on disk: files, directories (recursive), .zip/.tar.gz/.tgz/.gz archives read in place.

Each input is identified by content (magic bytes), not by name, and yields activities through the
matching reader. Streams are re-ordered within a bounded window per input, then merged across
inputs into one time-ordered stream (``heapq.merge``).
"""

from __future__ import annotations

import gzip
import heapq
import io
import os
import tarfile
import zipfile
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from itertools import chain
from typing import IO

from dcwatch.model.activity import Activity
from dcwatch.sources.base import SourceStats

EVTX_MAGIC = b"ElfFile\x00"
PCAP_MAGICS = (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4", b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"

# Activities of one input may be out of order by up to this much (EVTX chunk order, flows).
REORDER_WINDOW = timedelta(minutes=5)
REORDER_MAX = 200_000


@dataclass(slots=True)
class Input:
    """One readable input: a name for messages and a way to open it as bytes."""

    name: str
    open: Callable[[], IO[bytes]]
    path: str | None = None  # a real file path when there is one (EVTX parser reads it directly)


def sniff(head: bytes) -> str | None:
    """Format of a byte stream from its first bytes."""
    if head.startswith(EVTX_MAGIC):
        return "evtx"
    if head[:4] in PCAP_MAGICS:
        return "pcap"
    if head.startswith(PCAPNG_MAGIC):
        return "pcapng"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "tar"
    stripped = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] in (b"{", b"["):
        return "json"
    return None


def expand(paths: list[str], warn: Callable[[str], None]) -> Iterator[Input]:
    """Every readable input under the given paths: directories walked, archives opened."""
    for p in paths:
        if os.path.isdir(p):
            for root, dirs, files in os.walk(p):
                dirs.sort()
                for f in sorted(files):
                    full = os.path.join(root, f)
                    yield from _expand_file(full, warn)
        elif os.path.exists(p):
            yield from _expand_file(p, warn)
        else:
            warn(f"{p}: no such file or directory")


def _expand_file(path: str, warn: Callable[[str], None]) -> Iterator[Input]:
    try:
        with open(path, "rb") as f:
            head = f.read(600)
    except OSError as e:
        warn(f"{path}: cannot read: {e.strerror}")
        return
    yield from _expand_stream(Input(path, lambda: open(path, "rb"), path), head, warn, 0)


def _expand_stream(
    inp: Input, head: bytes, warn: Callable[[str], None], depth: int
) -> Iterator[Input]:
    kind = sniff(head)
    if depth > 3 and kind in ("zip", "tar", "gzip"):
        warn(f"{inp.name}: archives nested too deep; skipped")
        return
    if kind == "zip":
        yield from _zip_members(inp, warn, depth)
    elif kind == "tar":
        yield from _tar_members(inp, lambda: inp.open(), warn, depth)
    elif kind == "gzip":

        def opener(inp: Input = inp) -> IO[bytes]:
            return gzip.open(inp.open(), "rb")  # type: ignore[return-value]

        try:
            with opener() as g:
                inner = g.read(600)
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            warn(f"{inp.name}: corrupt gzip: {e}")
            return
        if sniff(inner) == "tar":
            yield from _tar_members(inp, opener, warn, depth)
        else:
            name = inp.name[:-3] if inp.name.endswith(".gz") else inp.name + "!gunzip"
            yield from _expand_stream(Input(name, opener), inner, warn, depth + 1)
    elif kind is None:
        warn(f"{inp.name}: not a recognised input (EVTX, JSON, pcap, archive); skipped")
    else:
        yield inp


def _zip_members(inp: Input, warn: Callable[[str], None], depth: int) -> Iterator[Input]:
    try:
        zf = zipfile.ZipFile(inp.open())
        infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        warn(f"{inp.name}: corrupt zip: {e}")
        return
    for info in infos:
        if info.is_dir() or _junk(info.filename):
            continue
        name = f"{inp.name}!{info.filename}"
        try:
            with zf.open(info) as m:
                head = m.read(600)
        except (zipfile.BadZipFile, OSError, EOFError, RuntimeError, NotImplementedError) as e:
            warn(f"{name}: cannot read zip member: {e}")
            continue

        def opener(zf: zipfile.ZipFile = zf, info: zipfile.ZipInfo = info) -> IO[bytes]:
            return zf.open(info)

        yield from _expand_stream(Input(name, opener), head, warn, depth + 1)


def _tar_members(
    inp: Input, opener: Callable[[], IO[bytes]], warn: Callable[[str], None], depth: int
) -> Iterator[Input]:
    # Stream mode: members are read in order without extracting; each is buffered only if it is
    # small, else re-read on demand through a fresh stream (seeking tar.gz is not possible).
    try:
        tf = tarfile.open(fileobj=opener(), mode="r|*")
        for member in tf:
            if not member.isfile() or _junk(member.name):
                continue
            f = tf.extractfile(member)
            if f is None:
                continue
            name = f"{inp.name}!{member.name}"
            head = f.read(600)
            target = member.name
            yield from _expand_stream(
                Input(name, _tar_member_opener(opener, target)), head, warn, depth + 1
            )
    except (tarfile.TarError, OSError, EOFError) as e:
        warn(f"{inp.name}: corrupt or truncated tar archive: {e}")


def _tar_member_opener(opener: Callable[[], IO[bytes]], target: str) -> Callable[[], IO[bytes]]:
    def open_member() -> IO[bytes]:
        tf = tarfile.open(fileobj=opener(), mode="r|*")
        for m in tf:
            if m.name == target:
                f = tf.extractfile(m)
                if f is not None:
                    return _TarStream(f, tf)  # type: ignore[return-value]  # read/close only
        raise OSError(f"member {target} vanished")

    return open_member


class _TarStream(io.RawIOBase):
    """A tar member as a readable stream, reading errors of a truncated archive as EOF+error."""

    def __init__(self, f: IO[bytes], tf: tarfile.TarFile) -> None:
        self._f = f
        self._tf = tf

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        data = self._f.read(len(b))
        b[: len(data)] = data
        return len(data)


def _junk(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return name.startswith("__MACOSX/") or base.startswith("._") or base == ".DS_Store"


def read_input(inp: Input, stats: SourceStats, evtx_threads: int = 0) -> Iterator[Activity]:
    """Activities of one input, dispatched on its content."""
    try:
        f = inp.open()
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as e:
        stats.fatal = f"cannot open: {e}"
        return
    try:
        head = f.read(600)
        kind = sniff(head)
        stats.format = kind or ""
        if kind == "evtx":
            from dcwatch.sources.evtx import read_evtx  # the evtx package only when needed

            if inp.path:
                f.close()
                yield from read_evtx(inp.path, inp.name, stats, evtx_threads)
            else:
                data = head + f.read()
                yield from read_evtx(io.BytesIO(data), inp.name, stats, evtx_threads)
        elif kind in ("pcap", "pcapng"):
            try:
                from dcwatch.sources.pcap import read_capture
            except ImportError:
                stats.fatal = "packet captures need the network sensor (dcwatch.sources.pcap)"
                return
            yield from read_capture(_Prepend(head, f), inp.name, stats)  # type: ignore[arg-type]
        elif kind == "json":
            from dcwatch.sources.jsonl import read_json

            stats.format = ""  # the dialect, once the first record tells it
            yield from read_json(_lines(head, f), inp.name, stats)
            stats.format = stats.format or "json"
        else:
            stats.fatal = "unrecognised format"
    except (OSError, EOFError, zipfile.BadZipFile, tarfile.TarError) as e:
        stats.fatal = f"read error after {stats.records} records: {e}"
    finally:
        f.close()


def _lines(head: bytes, f: IO[bytes]) -> Iterator[bytes]:
    rest = b""
    chunk = head
    while chunk:
        data = rest + chunk
        parts = data.split(b"\n")
        rest = parts.pop()
        yield from parts
        chunk = f.read(1 << 20)
    if rest:
        yield rest


class _Prepend(io.RawIOBase):
    """A stream whose first bytes were already read for sniffing."""

    def __init__(self, head: bytes, f: IO[bytes]) -> None:
        self._head = head
        self._f = f

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(b), len(self._head))
            b[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._f.read(len(b))
        b[: len(data)] = data
        return len(data)


def reorder(
    acts: Iterator[Activity], window: timedelta = REORDER_WINDOW, max_buffer: int = REORDER_MAX
) -> Iterator[Activity]:
    """Time-order a nearly ordered stream with a bounded buffer (memory stays bounded).

    While the input arrives in order (the common case) the buffer is a plain FIFO; the first
    activity older than one already buffered switches to a heap keyed by (time, arrival)."""
    fifo: deque[Activity] = deque()
    it = iter(acts)
    newest = None
    for n, a in enumerate(it):
        ts = a.ts
        if newest is not None and ts < newest:  # out of order: continue with the heap
            first = n - len(fifo)
            heap: list[tuple[object, int, Activity]] = [
                (x.ts, first + i, x) for i, x in enumerate(fifo)]  # sorted: a valid heap
            fifo.clear()
            yield from _reorder_heap(heap, newest, n, a, it, window, max_buffer)
            return
        newest = ts
        fifo.append(a)
        cutoff = ts - window
        while fifo[0].ts <= cutoff or len(fifo) > max_buffer:
            yield fifo.popleft()
            if not fifo:
                break
    while fifo:
        yield fifo.popleft()


def _reorder_heap(heap: list[tuple[object, int, Activity]], newest: object, n: int,
                  a: Activity, rest: Iterator[Activity], window: timedelta,
                  max_buffer: int) -> Iterator[Activity]:
    push, pop = heapq.heappush, heapq.heappop
    for i, x in enumerate(chain((a,), rest), n):  # continues the arrival numbering
        push(heap, (x.ts, i, x))  # i: ties keep arrival order
        if x.ts > newest:  # type: ignore[operator]
            newest = x.ts
        while heap and (heap[0][0] <= newest - window or len(heap) > max_buffer):  # type: ignore[operator]
            yield pop(heap)[2]
    while heap:
        yield pop(heap)[2]


def merge(streams: list[Iterator[Activity]]) -> Iterator[Activity]:
    """Merge time-ordered streams into one."""
    return heapq.merge(*streams, key=lambda a: a.ts)
