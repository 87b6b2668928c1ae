"""Live capture throughput: packets/s the sensor sustains without kernel drops, on one core.

Creates a network namespace with a veth pair (root needed), replays a capture (default: the
lab kill chain, looped) onto one end at a given rate, and runs the real ``capture()`` loop
(AF_PACKET + BPF + PacketDecoder + detectors) on the other end pinned to one CPU. Prints, per
offered rate, the packets received, the kernel drops, the frames still unread when the sensor
stopped (a backlog it had not caught up with: not sustained either), the decoding rate over the
sensor's active time (first to last activity: the offered rate when it keeps up, its own rate
when it falls behind) and its CPU time per packet (user + system, capture loop only): on a busy
host the CPU cost is the steadier figure, 1e6 / (us/pkt) the rate one idle core would sustain.
``--modes ring,recv`` compares the PACKET_MMAP ring with the recv() fallback; ``split`` runs
capture and decoding in a child process on CPU 0 and the engine in the sensor's process on CPU 1
(``dcwatch sensor --processes 2``): its cpu column is then the capture process's, the engine's
apart (CPU 1 is also the replay's).
Usage: sudo python bench/live_capture.py [--rates 10000,25000,50000,100000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PCAP = REPO / "tests" / "data" / "recordings" / "killchain" / "dc.pcap"

BOOST = r"""
import os
def boost():  # --nice: this process in a session (autogroup) of its own, at that niceness
    nice = int(os.environ.get("DCWATCH_BENCH_NICE", "0"))
    if nice:
        os.setsid()
        try:
            with open("/proc/self/autogroup", "w") as f:
                f.write(str(nice))
        except OSError:
            pass
        os.setpriority(os.PRIO_PROCESS, 0, nice)
boost()
"""

SENSOR = BOOST + r"""
import json, os, resource, sys, time
os.sched_setaffinity(0, {0})
from dcwatch.sources.base import SourceStats
from dcwatch.sources.live import capture
from dcwatch.detectors.engine import Engine
from dcwatch.detectors.base import DetectionConfig
st = SourceStats("live")
e = Engine(config=DetectionConfig("live"))
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
t0, c0 = time.perf_counter(), cpu()
n = 0
first = last = 0.0
mode = sys.argv[2]
if mode == "split":  # capture + decoding in a child on CPU 0, the engine here on CPU 1
    from dcwatch.sources.capture_process import capture_in_child
    # (left to float over both CPUs, it measured worse: it lands on the capture's now and then)
    os.register_at_fork(after_in_parent=lambda: os.sched_setaffinity(0, {1 % os.cpu_count()}))
    acts = capture_in_child("vb", st, duration=float(sys.argv[1]))
else:
    acts = capture("vb", st, duration=float(sys.argv[1]), ring=mode == "ring")
for a in acts:
    e.process(a)
    last = time.perf_counter()
    if not n:
        first = last
    n += 1
dt, dc = time.perf_counter() - t0, cpu() - c0
r = resource.getrusage(resource.RUSAGE_CHILDREN)  # split: the capture process, once joined
child = r.ru_utime + r.ru_stime
print(json.dumps({"packets": st.records, "drops": st.weirds.get("capture_kernel_drops", 0),
                  "activities": n, "seconds": dt, "active": last - first,
                  "cpu": child if mode == "split" else dc,
                  "engine_cpu": dc if mode == "split" else None}))
"""

REPLAY = BOOST + r"""
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
    ap.add_argument("--modes", default="ring", help="ring, recv, split or several (ring,split)")
    ap.add_argument("--nice", type=int, default=0,
                    help="niceness of sensor and replay, each in a scheduler autogroup of its "
                         "own (e.g. -15 on a host shared with other work: they get their cores)")
    args = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit("needs root (network namespace, AF_PACKET)")
    ns = f"dcwl-{uuid.uuid4().hex[:6]}"
    sh = ["ip", "netns", "exec", ns]
    env = {**os.environ, "DCWATCH_BENCH_NICE": str(args.nice)}
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(
            [*sh, "ip", "link", "add", "va", "type", "veth", "peer", "name", "vb"], check=True
        )
        for dev in ("va", "vb"):
            subprocess.run([*sh, "ip", "link", "set", dev, "mtu", "65535", "up"], check=True)
        print(f"{'mode':>5} {'offered pps':>12} {'sent':>9} {'received':>9} {'drops':>7} "
              f"{'unread':>7} {'decoded pps':>12} {'cpu us/pkt':>11} {'engine us/pkt':>14}")
        for rate, mode in [(int(r), m) for r in args.rates.split(",")
                           for m in args.modes.split(",")]:
            sensor = subprocess.Popen(
                [*sh, sys.executable, "-c", SENSOR, str(args.seconds + 2), mode],
                stdout=subprocess.PIPE,
                env=env,
                text=True,
            )
            time.sleep(1.0)
            sent = int(
                subprocess.run(
                    [*sh, sys.executable, "-c", REPLAY, args.pcap, str(rate), str(args.seconds)],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            res = json.loads(sensor.communicate()[0])
            unread = sent - res["packets"] - res["drops"]
            engine = "-" if res["engine_cpu"] is None else \
                f"{1e6 * res['engine_cpu'] / max(1, res['packets']):.1f}"
            print(
                f"{mode:>5} {rate:>12} {sent:>9} {res['packets']:>9} {res['drops']:>7} "
                f"{unread:>7} {res['packets'] / max(res['active'], 1e-3):>12.0f} "
                f"{1e6 * res['cpu'] / max(1, res['packets']):>11.1f} "
                f"{engine:>14}",
                flush=True,
            )
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
