"""Live capture throughput: packets/s the sensor sustains without kernel drops, on one core.

Creates a network namespace with a veth pair (root needed), replays a capture (default: the
lab kill chain, looped) onto one end at a given rate, and runs the real ``capture()`` loop
(AF_PACKET + BPF + PacketDecoder + detectors) on the other end pinned to one CPU. Prints, per
offered rate, the packets received, the kernel drops and the decoding rate.
Usage: sudo python bench/live_capture.py [--rates 10000,25000,50000,100000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PCAP = REPO / "tests" / "data" / "recordings" / "killchain" / "dc.pcap"

SENSOR = r"""
import json, os, sys, time
os.sched_setaffinity(0, {0})
from dcwatch.sources.base import SourceStats
from dcwatch.sources.live import capture
from dcwatch.detectors.engine import Engine
from dcwatch.detectors.base import DetectionConfig
st = SourceStats("live")
e = Engine(config=DetectionConfig("live"))
t0 = time.perf_counter()
n = 0
for a in capture("vb", st, duration=float(sys.argv[1])):
    e.process(a)
    n += 1
dt = time.perf_counter() - t0
print(json.dumps({"packets": st.records, "drops": st.weirds.get("capture_kernel_drops", 0),
                  "activities": n, "seconds": dt}))
"""

REPLAY = r"""
import os, socket, sys, time
os.sched_setaffinity(0, {1 % os.cpu_count()})
from dcwatch.sources.live import pcap_frames
frames = list(pcap_frames(sys.argv[1]))
rate, seconds = float(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("va", 0))
sent, t0, i = 0, time.perf_counter(), 0
batch = max(1, int(rate / 1000))
while True:
    now = time.perf_counter() - t0
    if now >= seconds:
        break
    due = int(now * rate)
    while sent < due:
        for _ in range(batch):
            s.send(frames[i])
            i = (i + 1) % len(frames)
            sent += 1
    time.sleep(0.0005)
print(sent)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", default="10000,25000,50000,100000")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--pcap", default=str(PCAP))
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespace, AF_PACKET)")
    ns = f"dcwb-{uuid.uuid4().hex[:6]}"
    sh = ["ip", "netns", "exec", ns]
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(
            [*sh, "ip", "link", "add", "va", "type", "veth", "peer", "name", "vb"], check=True
        )
        for dev in ("va", "vb"):
            subprocess.run([*sh, "ip", "link", "set", dev, "mtu", "65535", "up"], check=True)
        print(f"{'offered pps':>12} {'sent':>9} {'received':>9} {'drops':>7} {'decoded pps':>12}")
        for rate in (int(r) for r in args.rates.split(",")):
            sensor = subprocess.Popen(
                [*sh, sys.executable, "-c", SENSOR, str(args.seconds + 2)],
                stdout=subprocess.PIPE,
                text=True,
            )
            import time

            time.sleep(1.0)
            sent = int(
                subprocess.run(
                    [*sh, sys.executable, "-c", REPLAY, args.pcap, str(rate), str(args.seconds)],
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            res = json.loads(sensor.communicate()[0])
            print(
                f"{rate:>12} {sent:>9} {res['packets']:>9} {res['drops']:>7} "
                f"{res['packets'] / args.seconds:>12.0f}"
            )
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
