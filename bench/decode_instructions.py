"""Instructions per packet of live decoding (and of the engine after it), counted by callgrind.

On a shared VM run-to-run CPU time moves by +-25 %; instruction counts do not, so decoder changes
are compared in instructions. This feeds a capture's frames (default: the lab kill chain, the live
bench's replay) to one ``PacketDecoder`` in a loop, as the live ring does: one frame at a time,
times moving on at ``--pps``, activities drained as they come; ``--engine`` also runs them through
the detectors. ``--callgrind`` runs this script twice under ``valgrind --tool=callgrind`` (one loop,
then ``1 + --loops`` loops) and prints the difference per packet: imports, the registry and the
first pass (flows, caches) cancel out.

Usage: python bench/decode_instructions.py --callgrind [--loops 20] [--engine] [--pcap FILE]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PCAP = REPO / "tests" / "data" / "recordings" / "killchain" / "dc.pcap"
BLOCK = 64  # frames per ring block handed over at once (about 1 MiB blocks of DC traffic)


def run(pcap: str, loops: int, pps: float, engine: bool) -> tuple[int, int]:
    """Feed the capture ``loops`` times; (packets, activities)."""
    from dcwatch.protocols.net.decoder import PacketDecoder
    from dcwatch.sources.base import SourceStats
    from dcwatch.sources.live import pcap_frames

    frames = list(pcap_frames(pcap))
    buf = b"".join(frames)  # one buffer read in place, as the ring's blocks are
    spans, at = [], 0
    for f in frames:
        spans.append((at, at + len(f)))
        at += len(f)
    eng = None
    if engine:
        from dcwatch.detectors.base import DetectionConfig
        from dcwatch.detectors.engine import Engine

        eng = Engine(config=DetectionConfig("live"))
    d = PacketDecoder("live", SourceStats("live"))
    feed = d.feed_at
    ts, step, n, acts = 1.8e9, 1.0 / pps, 0, 0
    for _ in range(loops):
        for start, stop in spans:
            ts += step
            n += 1
            feed(ts, 1, buf, start, stop, n)
            if not n % BLOCK and d.out:  # activities handed on once per ring block
                out = d.drain()
                acts += len(out)
                if eng is not None:
                    for a in out:
                        eng.process(a)
    d.finish()
    acts += len(d.drain())
    return n, acts


def collected(argv: list[str]) -> int:
    """Instructions callgrind collected running ``argv``."""
    p = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
                       capture_output=True, text=True, check=True)
    m = re.search(r"Collected\s*:\s*(\d+)", p.stderr)
    if not m:
        sys.exit(f"no instruction count in valgrind's output:\n{p.stderr[-800:]}")
    return int(m.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pcap", default=str(PCAP))
    ap.add_argument("--loops", type=int, default=20)
    ap.add_argument("--pps", type=float, default=50_000.0, help="packet rate the times move at")
    ap.add_argument("--engine", action="store_true", help="run the detectors on the activities")
    ap.add_argument("--callgrind", action="store_true",
                    help="count instructions under valgrind (two runs, their difference)")
    args = ap.parse_args()
    if not args.callgrind:
        packets, acts = run(args.pcap, args.loops, args.pps, args.engine)
        print(f"{packets} packets, {acts} activities")
        return
    if not shutil.which("valgrind"):
        sys.exit("valgrind is not installed (Debian: apt-get install valgrind)")
    base = [sys.executable, __file__, "--pcap", args.pcap, "--pps", str(args.pps)]
    if args.engine:
        base.append("--engine")
    one = collected([*base, "--loops", "1"])
    many = collected([*base, "--loops", str(1 + args.loops)])
    packets, acts = run(args.pcap, 1, args.pps, False)
    per = (many - one) / (args.loops * packets)
    what = "decoding + engine" if args.engine else "decoding"
    print(f"{what}: {per:,.0f} instructions per packet ({packets} packets and {acts} activities "
          f"per loop, {args.loops} loops counted)")


if __name__ == "__main__":
    main()
