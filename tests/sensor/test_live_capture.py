"""``dcwatch sensor`` on a veth pair inside a network namespace the test creates.

The killchain recording is replayed onto one end; the sensor captures on the other, decodes,
detects (live mode) and stores alerts. Needs root and iproute2; skipped otherwise. Traffic never
leaves the namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
PCAP = REPO / "tests" / "data" / "recordings" / "killchain" / "dc.pcap"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("ip"),
        reason="needs root and iproute2 to create a network namespace",
    ),
]


@pytest.fixture
def netns():
    ns = f"dcwt-{uuid.uuid4().hex[:6]}"
    sh = ["ip", "netns", "exec", ns]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(
            [*sh, "ip", "link", "add", "va", "type", "veth", "peer", "name", "vb"], check=True
        )
        for dev in ("va", "vb"):
            # captures taken with offloads hold frames larger than 1500 bytes
            subprocess.run([*sh, "ip", "link", "set", dev, "mtu", "65535"], check=True)
        for dev in ("va", "vb", "lo"):
            subprocess.run([*sh, "ip", "link", "set", dev, "up"], check=True)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


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
