"""``sources.live.capture`` through the PACKET_MMAP ring and through the recv() fallback.

Both read the same replayed kill chain at once (sockets on one veth end, in a network namespace
the test creates), with a third capture whose ring set-up fails (the fallback), and must decode
the same activities; ``max_packets`` stops the ring mid-block at the exact count. Needs root
and iproute2; skipped otherwise. Traffic never leaves the namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from tests.sensor.veth import replay, veth_namespace

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or not shutil.which("ip"),
        reason="needs root and iproute2 to create a network namespace",
    ),
]

SENSOR = r"""
import json, sys
from dcwatch.sources.base import SourceStats
from dcwatch.sources import live
mode, duration, limit = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]) or None
st = SourceStats("live")
if mode == "noring":  # a kernel without PACKET_MMAP: capture(ring=True) falls back to recv()
    def refuse(sock, *args, **kwargs):
        raise OSError(22, "Invalid argument")
    live.rx_ring = refuse
sock, rx = live.open_socket("vb", None, ring=True)
ring_ok = rx is not None
if rx is not None:
    rx.close()
sock.close()
acts = []
for a in live.capture("vb", st, duration=duration, max_packets=limit, ring=mode != "recv"):
    d = a.to_dict()
    for k in ("uid", "ts", "origin"):  # each socket stamps its own copy of a frame
        d.pop(k, None)
    d["fields"].pop("opened", None)  # a time too (smb.file_transfer)
    acts.append(d)
print(json.dumps({"ring_ok": ring_ok, "records": st.records, "skipped": st.skipped,
                  "drops": st.weirds.get("capture_kernel_drops", 0), "acts": acts}))
"""


@pytest.fixture
def netns():
    with veth_namespace() as ns:
        yield ns


def _sensor(ns: str, mode: str, duration: float, limit: int = 0) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", SENSOR, mode, str(duration),
         str(limit)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(p: subprocess.Popen[str]) -> dict:
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    return json.loads(out)


def test_ring_and_recv_decode_the_same_activities(netns: str) -> None:
    sensors = [_sensor(netns, mode, 8) for mode in ("ring", "recv", "noring")]
    time.sleep(2.0)
    sent = replay(netns, 3000)
    a, b, c = (_result(p) for p in sensors)
    assert not c["ring_ok"]
    for r in (a, b, c):
        assert r["records"] == sent
        assert r["drops"] == 0
        assert r["skipped"] == 0
    assert len(a["acts"]) > 100
    assert a["acts"] == b["acts"] == c["acts"]
    if not a["ring_ok"]:
        pytest.skip("no PACKET_MMAP ring on this kernel: only the recv() path was tested")


def test_ring_stops_at_max_packets(netns: str) -> None:
    ring = _sensor(netns, "ring", 20, limit=100)
    time.sleep(2.0)
    replay(netns, 3000)
    assert _result(ring)["records"] == 100
