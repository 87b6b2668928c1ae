"""A veth pair in a network namespace the test creates, and replay of the kill chain onto it
(shared by the live-capture tests; traffic never leaves the namespace)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PCAP = REPO / "tests" / "data" / "recordings" / "killchain" / "dc.pcap"


@contextmanager
def veth_namespace() -> Iterator[str]:
    """A fresh namespace with veth ends ``va`` (replay) and ``vb`` (capture), deleted after."""
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


def replay(ns: str, pps: int) -> int:
    """Send the kill chain onto ``va`` at ``pps`` packets/s; returns the frames sent."""
    r = subprocess.run(
        ["ip", "netns", "exec", ns, sys.executable, "-c",
         f"from dcwatch.sources.live import replay; print(replay('va', {str(PCAP)!r}, "
         f"pps={pps}))"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return int(r.stdout)
