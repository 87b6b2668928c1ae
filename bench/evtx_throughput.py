"""EVTX end-to-end throughput of ``dcwatch scan`` as a ratio of the raw ``evtx`` parse.

Builds an input of >= 100k records by replicating the EVTX samples of ../shared/data (or any
directory given with --source) into a work directory, then, each in its own process so peak RSS
is measured per mode:
  raw:  evtx.PyEvtxParser(f).records_json() consumed, nothing else (the reference);
  scan: dcwatch's whole pipeline (sources -> activities -> resolver -> detectors -> alerts),
        in one process (--jobs 1) and with the reader processes `dcwatch scan` picks (0).
Prints records/s of each, the ratio (goal >= 50 %), and peak RSS of the scan, reader processes
included (goal <= 512 MiB).
Usage: python bench/evtx_throughput.py [--records 100000] [--gb 1.0] [--source DIR]
       [--jobs 1,0] [--repeat 3] [--single]
Each round runs the raw parse and then the scans back to back; ratios are taken within a round.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
WORK = REPO / "bench" / ".work"

WORKER = r"""
import json, resource, sys, time, glob
mode, root = sys.argv[1], sys.argv[2]
t0 = time.perf_counter()
if mode == "raw":
    import evtx
    n = 0
    for f in ([root] if root.endswith(".evtx") else
              sorted(glob.glob(root + "/**/*.evtx", recursive=True))):
        for _ in evtx.PyEvtxParser(f).records_json():
            n += 1
    alerts = 0
    jobs = 1
else:
    from dcwatch.pipeline import ActivityStream, ScanOptions, scan
    jobs = int(sys.argv[3])
    stream = ActivityStream([root], jobs=jobs)
    jobs = stream.jobs
    res = scan(ScanOptions([root]), stream=stream)
    n = sum(s.records for s in res.stats)
    alerts = len(res.alerts)
dt = time.perf_counter() - t0
me = resource.getrusage(resource.RUSAGE_SELF)
kids = resource.getrusage(resource.RUSAGE_CHILDREN)
rss = me.ru_maxrss / 1024
child = kids.ru_maxrss / 1024
cpu = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
print(json.dumps({"records": n, "seconds": dt, "rss_mib": rss, "alerts": alerts, "jobs": jobs,
                  "child_rss_mib": child, "cpu": cpu}))
"""


def build(source: Path, target_records: int, target_bytes: int) -> tuple[Path, int]:
    """Replicate the samples until both targets are met; returns (dir, bytes)."""
    import evtx

    files = sorted(source.rglob("*.evtx"))
    if not files:
        sys.exit(f"no .evtx files under {source}")
    per_round = 0
    for f in files:
        try:
            per_round += sum(1 for _ in evtx.PyEvtxParser(str(f)).records())
        except (OSError, RuntimeError):
            continue
    size = sum(f.stat().st_size for f in files)
    rounds = max(-(-target_records // per_round), -(-target_bytes // size), 1)
    out = WORK / f"evtx-{rounds}x"
    if not out.exists():
        tmp = WORK / "tmp-build"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for r in range(rounds):
            d = tmp / f"copy{r:04d}"
            d.mkdir()
            for i, f in enumerate(files):
                os.link(f, d / f"{i:03d}-{f.name}") if _same_fs(f, d) else \
                    shutil.copy(f, d / f"{i:03d}-{f.name}")
        tmp.rename(out)
    return out, size * rounds


def build_single(source: Path, target_records: int, target_bytes: int) -> tuple[Path, int]:
    """One large EVTX file: the samples' chunks (self-contained 64 KiB units) repeated after
    one file header, as a DC's big Security.evtx would be read (the evtx parser reads every
    chunk present)."""
    import evtx

    files = sorted(source.rglob("*.evtx"))
    chunks, records = [], 0
    for f in files:
        data = f.read_bytes()
        for i in range((len(data) - 4096) // 65536):
            c = data[4096 + i * 65536:4096 + (i + 1) * 65536]
            if c[:8] == b"ElfChnk\x00":
                chunks.append(c)
        try:
            records += sum(1 for _ in evtx.PyEvtxParser(str(f)).records())
        except (OSError, RuntimeError):
            continue
    size = len(chunks) * 65536
    rounds = max(-(-target_records // max(records, 1)), -(-target_bytes // size), 1)
    out = WORK / f"single-{rounds}x.evtx"
    if not out.exists():
        tmp = out.with_suffix(".tmp")
        with open(tmp, "wb") as w:
            w.write(files[0].read_bytes()[:4096])
            for _ in range(rounds):
                for c in chunks:
                    w.write(c)
        tmp.rename(out)
    return out, out.stat().st_size


def _same_fs(a: Path, b: Path) -> bool:
    return os.stat(a).st_dev == os.stat(b).st_dev


def run(mode: str, root: Path, jobs: int = 0) -> dict:
    out = subprocess.run([sys.executable, "-c", WORKER, mode, str(root), str(jobs)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--gb", type=float, default=0.0, help="also make the input at least this big")
    ap.add_argument("--source", default=str(REPO.parent / "shared" / "data" /
                                           "evtx-attack-samples"))
    ap.add_argument("--jobs", default="1,0", help="reader processes to measure, comma "
                    "separated (0 = what `dcwatch scan` picks on this machine)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds (raw parse, then each scan "
                    "mode); the median of the rounds' ratios is reported")
    ap.add_argument("--single", action="store_true",
                    help="one large EVTX file instead of many copies of the samples")
    args = ap.parse_args()
    # As an installed package would be (pip byte-compiles on install): up-to-date .pyc files,
    # so the scan's start-up is not spent compiling sources when PYTHONDONTWRITEBYTECODE is set
    # or the tree has just been edited (0.1 s of a ~1 s run here).
    import compileall
    compileall.compile_dir(str(REPO / "src" / "dcwatch"), quiet=1)
    root, nbytes = (build_single if args.single else build)(Path(args.source), args.records,
                                                             int(args.gb * 1e9))
    print(f"input: {root} ({nbytes / 1e6:.0f} MB); cores: {os.cpu_count()}, "
          f"load average {os.getloadavg()[0]:.2f}")

    # Rounds: the raw parse, then each scan mode, back to back; the ratio is taken within a
    # round (this VM's speed drifts by ±30 % between minutes, for the raw parse as for the scan)
    # and the median over rounds is the figure.
    modes = [int(j) for j in args.jobs.split(",")]
    ratios: dict[int, list[float]] = {j: [] for j in modes}
    last: dict[int, dict] = {}
    for r in range(args.repeat):
        raw = run("raw", root)
        raw_rate = raw["records"] / raw["seconds"]
        print(f"round {r + 1}: load {os.getloadavg()[0]:.2f}; raw evtx parse {raw_rate:8.0f} "
              f"records/s ({raw['seconds']:.2f} s, CPU {raw['cpu']:.2f} s, {raw['records']} "
              f"records, peak RSS "
              f"{raw['rss_mib']:.0f} MiB)")
        for jobs in modes:
            scan = run("scan", root, jobs)
            rate = scan["records"] / scan["seconds"]
            ratios[jobs].append(rate / raw_rate)
            last[jobs] = scan
            rss = scan["rss_mib"] + scan["jobs"] * scan["child_rss_mib"] * (scan["jobs"] > 1)
            print(f"  dcwatch scan, {scan['jobs']} reader(s): {rate:8.0f} records/s "
                  f"({scan['seconds']:.2f} s, CPU {scan['cpu']:.2f} s in all, {scan['alerts']} "
                  f"alerts); ratio "
                  f"{rate / raw_rate:.0%}; peak RSS {rss:.0f} MiB in all (main "
                  f"{scan['rss_mib']:.0f}, each reader <= {scan['child_rss_mib']:.0f})")
    for jobs in modes:
        rs = sorted(ratios[jobs])
        print(f"dcwatch scan, {last[jobs]['jobs']} reader(s): ratio to the raw parse, median "
              f"{statistics.median(rs):.0%} (runs {', '.join(f'{x:.0%}' for x in rs)}; goal "
              f">= 50%)")


if __name__ == "__main__":
    main()
