"""Coverage-guided fuzzing of dcwatch's decoders with atheris (libFuzzer for Python).

The hypothesis tests beside this file mutate real messages at random; atheris instruments the
decoders and keeps the inputs that reach new code, so it digs into the branches random mutation
rarely reaches (nested BER, NDR pointers, SMB compounding, TCP reassembly state). Targets:

  packets  a sequence of frames (2-byte length + frame, the first byte picks the link type) fed
           to one ``PacketDecoder``: the whole flow layer and every analyzer, across frames;
  capture  the bytes as a pcap/pcapng file through ``read_capture``;
  decoders the first byte picks a message decoder (Kerberos, AP-REQ, DNS, LDAP message and
           filter, SASL wrapper, NTLMSSP, BER fields), the rest is the message;
  events   the bytes as JSON lines through ``read_json`` (evtx_dump, NXLog, Winlogbeat, ECS and
           Samba audit dialects);
  evtx     the bytes as an EVTX file through ``read_evtx`` (seeded from ../shared/data).

A finding is any exception that escapes, and, for the packet paths, an exception the decoder had
to catch and count as ``exception_*`` (a malformed packet must be a counted ``malformed``/weird,
never an accident). Seeds come from the project's recordings (tests/data), cut into pieces.

    python tests/fuzz/atheris_fuzz.py TARGET [libFuzzer options] [CORPUS_DIR ...]
    e.g. python tests/fuzz/atheris_fuzz.py packets -max_total_time=300 /tmp/corpus-packets

An empty (or new) corpus folder is seeded from the recordings first; without one a temporary
folder is made and named on stderr. ``make fuzz`` runs
every target for a while; ``tests/fuzz/test_atheris.py`` runs each briefly in the suite.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import atheris

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared" / "data"

sys.path.insert(0, str(ROOT))  # the tests' own helpers (tests/protocols/wire.py)
from tests.protocols import wire  # noqa: E402 - after the path it needs

with atheris.instrument_imports():
    from dcwatch.errors import InputError
    from dcwatch.protocols import asn1, dns, kerberos, ldap, ntlm
    from dcwatch.protocols.ldap_activity import sasl_unwrap
    from dcwatch.protocols.net.decoder import PacketDecoder
    from dcwatch.sources.base import SourceStats
    from dcwatch.sources.evtx import read_evtx
    from dcwatch.sources.jsonl import read_json
    from dcwatch.sources.pcap import read_capture

LINKTYPES = (1, 0, 101, 113, 276)  # Ethernet, null/loopback, raw IP, Linux SLL, SLL2


class Finding(Exception):
    """A decoder caught an exception it did not expect (counted as exception_*)."""


def _no_caught_exceptions(stats: SourceStats) -> None:
    bad = {k: v for k, v in stats.weirds.items() if k.startswith("exception_")}
    if bad:
        raise Finding(f"{bad}; first error: {stats.first_error}")


# --- targets ----------------------------------------------------------------------------------


def fuzz_packets(data: bytes) -> None:
    if not data:
        return
    linktype = LINKTYPES[data[0] % len(LINKTYPES)]
    stats = SourceStats("fuzz")
    d = PacketDecoder("fuzz", stats)
    pos, n = 1, 0
    while pos + 2 <= len(data):
        size = int.from_bytes(data[pos:pos + 2], "big")
        frame = data[pos + 2:pos + 2 + size]
        pos += 2 + size
        n += 1
        d.feed(1.6e9 + n * 0.01, linktype, frame, n)
        d.drain()
    d.finish()
    d.drain()
    _no_caught_exceptions(stats)


def fuzz_capture(data: bytes) -> None:
    stats = SourceStats("fuzz")
    for _ in read_capture(io.BytesIO(data), "fuzz", stats):
        pass
    _no_caught_exceptions(stats)


_DECODERS: list[Callable[[bytes], object]] = [
    kerberos.parse,
    kerberos.parse_ap_req,
    dns.parse,
    lambda d: ldap.parse_message(d, 0, len(d)),
    lambda d: ldap.render_filter(d, 0, len(d)),
    sasl_unwrap,
    ntlm.parse,
    lambda d: asn1.fields(d, 0, len(d)),
]


def fuzz_decoders(data: bytes) -> None:
    if not data:
        return
    with contextlib.suppress(InputError):  # the decoders' one way to refuse a message
        _DECODERS[data[0] % len(_DECODERS)](data[1:])


def fuzz_events(data: bytes) -> None:
    stats = SourceStats("fuzz.json")
    for _ in read_json(io.BytesIO(data), "fuzz.json", stats):
        pass


def fuzz_evtx(data: bytes) -> None:
    stats = SourceStats("fuzz.evtx")
    for _ in read_evtx(io.BytesIO(data), "fuzz.evtx", stats, threads=1):
        pass


TARGETS: dict[str, Callable[[bytes], None]] = {
    "packets": fuzz_packets, "capture": fuzz_capture, "decoders": fuzz_decoders,
    "events": fuzz_events, "evtx": fuzz_evtx,
}


# --- seeds ------------------------------------------------------------------------------------


def _pcap_frames(path: Path, limit: int) -> list[bytes]:
    """The first ``limit`` frames of one of the recordings' pcap files."""
    data = path.read_bytes()
    if data[:4] not in (b"\xd4\xc3\xb2\xa1", b"\xa1\xb2\xc3\xd4"):  # microsecond pcap only
        return []
    return [f for _, f in wire.read_pcap(data)[1][:limit]]


def _captures() -> list[Path]:
    return sorted(DATA.rglob("*.pcap"))


def seeds(target: str) -> Iterator[bytes]:
    """A few hundred inputs cut from the recordings, shaped for the target."""
    if target == "packets":
        for p in _captures():
            frames = _pcap_frames(p, 400)
            for i in range(0, len(frames), 20):  # conversations of 20 frames (TCP state kept)
                yield b"\x00" + b"".join(len(f).to_bytes(2, "big") + f
                                         for f in frames[i:i + 20] if len(f) < 65536)
    elif target == "capture":
        for p in _captures():
            yield p.read_bytes()[:32768]
    elif target == "decoders":
        for p in _captures()[:12]:
            for f in _pcap_frames(p, 200):
                payload = f[54:] if len(f) > 54 else f  # Ethernet + IPv4 + TCP without options
                for sel in range(len(_DECODERS)):
                    yield bytes([sel]) + payload[4:] if sel in (0, 1) else bytes([sel]) + payload
    elif target == "events":
        for p in sorted(DATA.rglob("*.jsonl")) + sorted(DATA.rglob("*.json")):
            lines = p.read_bytes().splitlines()
            for i in range(0, min(len(lines), 200), 5):
                yield b"\n".join(lines[i:i + 5])
        for p in sorted((SHARED / "otrf-dev").rglob("*.json"))[:10]:
            yield b"\n".join(p.read_bytes().splitlines()[:5])
    elif target == "evtx":
        for p in sorted((SHARED / "evtx-attack-samples").rglob("*.evtx"))[:20]:
            data = p.read_bytes()
            yield data[:4096 + 65536]  # header and first chunk


def main(argv: list[str]) -> None:
    if len(argv) < 2 or argv[1] not in TARGETS:
        sys.exit(f"usage: {argv[0]} {{{','.join(TARGETS)}}} [libFuzzer options] [CORPUS ...]")
    target = argv[1]
    rest = argv[2:]
    corpora = [a for a in rest if not a.startswith("-")]
    if not corpora:  # libFuzzer ends the process itself: the caller owns the corpus folder
        corpora = [tempfile.mkdtemp(prefix=f"dcwatch-fuzz-{target}-")]
        rest = [*rest, corpora[0]]
        print(f"corpus: {corpora[0]} (remove it when done)", file=sys.stderr)
    first = Path(corpora[0])
    first.mkdir(parents=True, exist_ok=True)
    if not any(first.iterdir()):  # an empty corpus starts from the recordings
        n = 0
        for n, s in enumerate(seeds(target), 1):
            (first / f"seed{n:05d}").write_bytes(s)
        if n == 0:
            print(f"no seeds for {target} here: fuzzing from nothing", file=sys.stderr)
    # A few seeds first, so the modules the decoders import on first use are loaded, then every
    # loaded function is instrumented for coverage (not only the modules imported above).
    fn = TARGETS[target]
    for f in sorted(first.iterdir())[:50]:
        with contextlib.suppress(Exception):
            fn(f.read_bytes())
    atheris.instrument_all()
    atheris.Setup([argv[0], *rest], fn)
    atheris.Fuzz()


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    main(sys.argv)
