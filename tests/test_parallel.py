"""Reading inputs in worker processes gives exactly what reading them here gives."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dcwatch.pipeline import ActivityStream, ScanOptions, scan
from dcwatch.sources import parallel
from dcwatch.sources.files import Input

REPO = Path(__file__).resolve().parents[1]
RECORDINGS = REPO / "tests" / "data" / "recordings"
SHARED = REPO.parent / "shared" / "data"

pytestmark = pytest.mark.skipif(
    "fork" not in __import__("multiprocessing").get_all_start_methods(),
    reason="parallel reading needs the fork start method",
)


def _read(paths: list[str], jobs: int) -> tuple[list, ActivityStream]:
    stream = ActivityStream(paths, jobs=jobs)
    return list(stream), stream


@pytest.mark.parametrize("jobs", [2, 3])
def test_same_activities_same_order_same_counts_as_one_process(jobs: int) -> None:
    paths = [str(RECORDINGS)] + ([str(SHARED)] if SHARED.is_dir() else [])
    seq, s1 = _read(paths, 1)
    par, s2 = _read(paths, jobs)
    assert s2.jobs == jobs
    assert len(seq) > 500
    assert [a.uid for a in par] == [a.uid for a in seq]
    assert par == seq  # every field, types included (times, kinds, accounts, origins)
    assert s2.stats == s1.stats
    assert s2.duplicates == s1.duplicates
    assert s2.warnings == s1.warnings


def test_same_alerts_as_one_process() -> None:
    path = [str(RECORDINGS / "killchain")]
    one = scan(ScanOptions(path, jobs=1)).alerts
    two = scan(ScanOptions(path, jobs=2)).alerts
    assert [(a.id, a.count, a.description) for a in two] == \
        [(a.id, a.count, a.description) for a in one]


def test_progress_callbacks_once_per_input() -> None:
    started, finished = [], []
    stream = ActivityStream([str(RECORDINGS / "killchain"), str(RECORDINGS / "dcsync")],
                            on_input=lambda i, st: started.append(i.name),
                            on_done=lambda i, st: finished.append((i.name, st.records)),
                            jobs=2)
    list(stream)
    names = [i.name for i in stream.inputs]
    assert started == names
    assert sorted(n for n, _ in finished) == sorted(names)
    assert all(records > 0 for _, records in finished)  # counters arrived before on_done


def test_a_failing_reader_is_reported_not_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(inp, stats, threads=0):
        raise RuntimeError("decoder bug")
        yield  # pragma: no cover

    monkeypatch.setattr(parallel, "read_input", broken)  # forked workers inherit the patch
    with pytest.raises(parallel.WorkerFailed, match="decoder bug"):
        list(ActivityStream([str(RECORDINGS / "killchain")], jobs=2))


def test_a_killed_reader_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    def killed(inp, stats, threads=0):
        os._exit(9)
        yield  # pragma: no cover

    monkeypatch.setattr(parallel, "read_input", killed)
    with pytest.raises(parallel.WorkerFailed, match="died"):
        list(ActivityStream([str(RECORDINGS / "killchain")], jobs=2))


def test_consumer_stopping_early_leaves_no_reader_behind() -> None:
    stream = ActivityStream([str(RECORDINGS)], jobs=2)
    it = iter(stream)
    next(it)
    it.close()  # generator finalisation terminates and joins the workers
    import multiprocessing

    assert not [p for p in multiprocessing.active_children() if p.name == "dcwatch-reader"]


def test_auto_stays_in_process_for_small_inputs() -> None:
    stream = ActivityStream([str(RECORDINGS / "killchain")])
    assert stream.jobs == 1


def test_partition_balances_by_size_and_keeps_input_order(tmp_path: Path) -> None:
    inputs = []
    for n, size in enumerate([10, 500, 20, 480, 5]):
        p = tmp_path / f"f{n}"
        p.write_bytes(b"x" * size)
        inputs.append(Input(p.name, lambda p=p: open(p, "rb"), str(p)))
    groups = parallel.plan(inputs, 2)
    assert sorted(it.n for g in groups for it in g) == [0, 1, 2, 3, 4]
    assert all(g == sorted(g) for g in groups)
    sizes = [sum(it.size for it in g) for g in groups]
    assert max(sizes) - min(sizes) <= 40


BIG_EVTX = SHARED / "evtx-attack-samples" / "Lateral_Movement" / "LM_5145_Remote_FileCopy.evtx"


@pytest.mark.skipif(not BIG_EVTX.exists(), reason="../shared/data not available")
@pytest.mark.parametrize("jobs", [2, 3])
def test_one_large_evtx_is_split_by_chunks_and_reads_the_same(
        jobs: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "SPLIT_BYTES", 0)  # the sample is 1 MiB: split it anyway
    monkeypatch.setattr(parallel, "MIN_BYTES", 0)
    stream = ActivityStream([str(BIG_EVTX)])
    if len(os.sched_getaffinity(0)) >= 2:
        assert stream.jobs >= 2  # auto picks readers for one splittable file
    groups = parallel.plan(stream.inputs, jobs)
    assert [it.chunks for g in groups for it in g if it.chunks][:1]  # really split
    seq, s1 = _read([str(BIG_EVTX)], 1)
    par, s2 = _read([str(BIG_EVTX)], jobs)
    assert len(seq) > 100
    assert par == seq
    assert s2.stats == s1.stats  # the parts' counters add up to the whole file's


def test_cli_jobs_option() -> None:
    from click.testing import CliRunner

    from dcwatch.cli import main

    path = str(RECORDINGS / "killchain")
    one = CliRunner().invoke(main, ["activities", "-j", "1", path, "--format", "jsonl"])
    two = CliRunner().invoke(main, ["activities", "--jobs", "2", path, "--format", "jsonl"])
    assert one.exit_code == two.exit_code == 0
    assert one.stdout == two.stdout
    assert one.stdout.count("\n") > 100


@pytest.mark.skipif(not BIG_EVTX.exists(), reason="../shared/data not available")
def test_a_log_whose_chunks_run_back_in_time_is_not_split(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "SPLIT_BYTES", 0)
    data = BIG_EVTX.read_bytes()
    header, body = data[:4096], data[4096:]
    chunks = [body[i:i + 65536] for i in range(0, len(body) - 65535, 65536)]
    used = [c for c in chunks if c[:8] == b"ElfChnk\x00"]
    assert len(used) >= 3
    ordered = tmp_path / "ordered.evtx"
    ordered.write_bytes(header + b"".join(used))
    wrapped = tmp_path / "wrapped.evtx"  # the newest chunks first, as in a wrapped log
    wrapped.write_bytes(header + b"".join(used[2:] + used[:2]))

    def inp(p: Path) -> Input:
        return Input(p.name, lambda: open(p, "rb"), str(p))

    assert parallel._evtx_chunks(inp(ordered)) == len(used)
    assert parallel._evtx_chunks(inp(wrapped)) == 0


def test_readers_of_a_killed_scan_do_not_stay_behind(tmp_path: Path) -> None:
    # The scanning process is killed (-9) while its readers still have much to send: each
    # reader's next send must fail and end it. A reader that kept the pipe's reading end it
    # inherited from the fork would block for ever on a full pipe: an orphan per reader.
    import signal
    import subprocess
    import sys
    import time

    code = (
        "import multiprocessing, sys, time\n"
        "from dcwatch.pipeline import ActivityStream\n"
        f"it = iter(ActivityStream([{str(RECORDINGS)!r}] * 8, jobs=2))\n"
        "next(it)\n"
        "print(' '.join(str(p.pid) for p in multiprocessing.active_children()), flush=True)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    assert len(pids) == 2
    time.sleep(0.5)  # the readers fill their pipes
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)

    def running(pid: int) -> bool:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return False
        return "\nState:\tZ" not in status

    deadline = time.monotonic() + 10
    while any(running(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = [p for p in pids if running(p)]
    for p in left:
        os.kill(p, signal.SIGKILL)
    assert not left, "reader processes outlived the killed scan"
