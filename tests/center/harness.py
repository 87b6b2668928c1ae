"""Sensors and centers as real processes, and the single-process reference they must match."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, func, select

from dcwatch.detectors import registry
from dcwatch.pipeline import ScanOptions, scan
from dcwatch.store import Store
from dcwatch.store import schema as t

HERE = Path(__file__).resolve().parent
DATA = HERE.parent / "data"
ENTRY = str(HERE / "entry.py")
RECORDINGS = sorted(str(p) for p in (DATA / "recordings").iterdir() if p.is_dir())
ALL_INPUTS = [*RECORDINGS, str(DATA / "demo" / "killchain.jsonl")]


def groups(paths: list[str], n: int) -> list[list[str]]:
    """Contiguous groups in input order (sensor i gets the i-th slice: ties sort the same)."""
    size = -(-len(paths) // n)
    return [paths[i:i + size] for i in range(0, len(paths), size)]


def alert_table(url: str) -> dict[str, tuple[str, int, int]]:
    """id -> (type, count, linked activities) of a store."""
    eng = create_engine(url if "://" in url else f"sqlite:///{url}")
    with eng.connect() as c:
        links = dict(c.execute(select(t.alert_activities.c.alert_id, func.count())
                               .group_by(t.alert_activities.c.alert_id)).all())
        out = {r.id: (r.type, r.count, links.get(r.id, 0))
               for r in c.execute(select(t.alerts.c.id, t.alerts.c.type, t.alerts.c.count))}
    eng.dispose()
    return out


def reference(paths: list[str], db: Path) -> dict[str, tuple[str, int, int]]:
    """What ``dcwatch scan PATHS --db`` stores: the single-process answer."""
    store = Store(str(db))
    store.save_alerts(scan(ScanOptions(list(paths))).alerts,
                      {s: c.update_window for s, c in registry().items()})
    store.engine.dispose()
    return alert_table(str(db))


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(HERE.parents[1]), env.get("PYTHONPATH", "")])
    return env


def start(args: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, ENTRY, *args], stdout=log.open("ab"),
                            stderr=subprocess.STDOUT, env=_env(), start_new_session=True)


def sensor(bus: str, site: str, name: str, spool: Path, paths: list[str], log: Path,
           rate: float | None = None) -> subprocess.Popen:
    args = ["ship", "--bus", bus, "--site", site, "--sensor", name, "--spool", str(spool),
            "--exit-when-done", "-v"]
    for p in paths:
        args += ["--replay", p]
    if rate:
        args += ["--rate", str(rate)]
    return start(args, log)


def center(bus: str, db: str, site: str, log: Path, expect: int,
           checkpoint_interval: float = 0.5) -> subprocess.Popen:
    return start(["center", "--bus", bus, "--db", db, "--site", site, "--mode", "forensic",
                  "--until-eof", "--expect-sensors", str(expect), "--checkpoint-interval",
                  str(checkpoint_interval), "--idle-after", "20", "-v"], log)


def wait(procs: list[subprocess.Popen], timeout: float, logs: list[Path] = ()) -> None:
    end = time.monotonic() + timeout
    for p in procs:
        try:
            p.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            for q in procs:
                kill(q)
            tails = "\n".join(f"--- {x}\n{x.read_text()[-1500:]}" for x in logs)
            raise AssertionError(f"processes still running after {timeout}s\n{tails}") from None


def kill(p: subprocess.Popen) -> None:
    """kill -9 (the process group: the process and nothing else it started)."""
    if p.poll() is None:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait(10)
