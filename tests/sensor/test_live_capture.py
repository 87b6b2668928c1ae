"""``dcwatch sensor`` on a veth pair inside a network namespace the test creates.

The killchain recording is replayed onto one end; the sensor captures on the other, decodes,
detects (live mode) and stores alerts. Needs root and iproute2; skipped otherwise. Traffic never
leaves the namespace.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.sensor.veth import PCAP, replay, veth_namespace

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("ip"),
        reason="needs root and iproute2 to create a network namespace",
    ),
]


@pytest.fixture
def netns():
    with veth_namespace() as ns:
        yield ns


def test_sensor_sees_the_replayed_kill_chain(netns: str, tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    sh = ["ip", "netns", "exec", netns]
    sensor = subprocess.Popen(
        [
            *sh,
            sys.executable,
            "-m",
            "dcwatch",
            "sensor",
            "-i",
            "vb",
            "--db",
            str(db),
            "--duration",
            "12",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(2.0)
    r = subprocess.run(
        [
            *sh,
            sys.executable,
            "-c",
            "import sys; from dcwatch.sources.live import replay; "
            f"print(replay('va', {str(PCAP)!r}, pps=3000))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    sent = int(r.stdout.strip())
    out, err = sensor.communicate(timeout=60)
    assert sensor.returncode == 0, err
    alerts = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert sent > 500
    assert "kernel drops: 0" in err
    # Live mode with no learning history: the kill chain's DCSync is still a DCSync.
    assert 2006 in {a["external_id"] for a in alerts}, err
    assert db.exists()


def _sensor(ns: str, db: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-m", "dcwatch", "sensor", "-i", "vb",
         "--db", str(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _timeless(out: str) -> list[object]:
    """Printed alerts without times and the ids and uids made from them."""

    def strip(x: object) -> object:
        if isinstance(x, dict):
            return {k: strip(v) for k, v in x.items() if k not in ("id", "uid")}
        if isinstance(x, list):
            return [strip(v) for v in x]
        if isinstance(x, str) and re.match(r"\d{4}-\d\d-\d\dT\d\d:", x):
            return "<time>"
        return x

    return [strip(json.loads(line)) for line in out.splitlines() if line.startswith("{")]


def test_engine_in_its_own_process_raises_the_same_alerts(netns: str, tmp_path: Path) -> None:
    # Both sensors read the same frames at once (two sockets on vb, same kernel timestamps).
    one = _sensor(netns, tmp_path / "one.db", "--processes", "1", "--duration", "10")
    two = _sensor(netns, tmp_path / "two.db", "--processes", "2", "--duration", "10")
    time.sleep(2.0)
    sent = replay(netns, 3000)
    (out1, err1), (out2, err2) = one.communicate(timeout=60), two.communicate(timeout=60)
    assert one.returncode == 0, err1
    assert two.returncode == 0, err2
    assert sent > 500
    assert "kernel drops: 0" in err1
    assert "kernel drops: 0" in err2
    alerts = [json.loads(line) for line in out1.splitlines() if line.startswith("{")]
    assert 2006 in {a["external_id"] for a in alerts}, err1
    # every opened and updated alert, printed in the same order; the two sockets' kernel
    # timestamps differ by a microsecond now and then, so do the ids and uids made from them
    assert _timeless(out2) == _timeless(out1)
    assert err2.splitlines()[1:] == err1.splitlines()[1:]  # the same totals


def test_sigterm_stops_the_two_process_sensor_cleanly(netns: str, tmp_path: Path) -> None:
    sensor = _sensor(netns, tmp_path / "live.db", "--processes", "2")
    time.sleep(2.0)
    replay(netns, 3000)
    time.sleep(0.5)
    sensor.send_signal(signal.SIGTERM)
    out, err = sensor.communicate(timeout=30)
    assert sensor.returncode == 0, err
    assert "kernel drops: 0" in err
    assert 2006 in {json.loads(x)["external_id"] for x in out.splitlines() if x.startswith("{")}
