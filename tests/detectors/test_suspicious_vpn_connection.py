"""2025 Suspicious VPN connection (RADIUS accounting)."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.conftest import RECORDINGS
from tests.detectors.netutil import alerts_of, ids_of, run, wire
from tests.helpers import user

from dcwatch.model.activity import ActivityKind as K

SLUG = "suspicious-vpn-connection"
PCAP = Path(__file__).resolve().parents[1] / "data" / "protocols" / "radius-accounting.pcap"
DAY = 86_400


def start(day: float, calling: str, name: str = "alice", status: int = 1, session: str = ""):
    return wire(K.RADIUS_ACCOUNTING, day * DAY, src="10.0.0.5", actor=user(name),
                protocol="radius", dst_port=1813,
                fields={"status_type": status, "calling_station_id": calling,
                        "framed_ip": "172.16.5.21", "session_id": session or f"s{day}{name}",
                        "nas_identifier": "vpn-gw01"})


def test_new_location_after_profile_fires_once_per_user() -> None:
    acts = [start(d, "203.0.113.10") for d in (0, 2, 4, 6, 8)]
    acts += [start(9, "198.51.100.77"), start(9.5, "198.51.100.77")]
    alerts = run(SLUG, acts)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.description.startswith("CONTOSO\\alice used 2 computers in 2 locations to connect "
                                    "to the VPN; the connection from 198.51.100.77")
    assert a.evidence["learned_locations"] == ["203.0.113.0/24"]
    assert {e.role for e in a.entities} >= {"user", "external address", "VPN server"}


def test_same_network_and_thin_profile_stay_quiet() -> None:
    acts = [start(d, f"203.0.113.{10 + d}") for d in range(8)]  # one /24: one location
    assert run(SLUG, acts) == []
    acts = [start(d, "203.0.113.10") for d in range(4)] + [start(5, "198.51.100.77")]
    assert run(SLUG, acts) == []  # 4 connections: no profile yet
    # Interim/Stop records of a known session are not new connections
    acts = [start(d, "203.0.113.10") for d in range(6)]
    acts += [start(6, "198.51.100.77", status=3, session="s0alice")]
    assert run(SLUG, acts) == []


def test_live_learning_period() -> None:
    acts = [start(d, "203.0.113.10") for d in range(6)] + [start(7, "198.51.100.77")]
    assert run(SLUG, acts, mode="live") == []  # inside the user's first 30 days
    acts = [start(d * 5, "203.0.113.10") for d in range(8)] + [start(36, "198.51.100.77")]
    assert len(run(SLUG, acts, mode="live")) == 1


def test_synthetic_radius_capture() -> None:
    alerts = alerts_of(PCAP, 2025)
    assert len(alerts) == 1
    assert "alice" in alerts[0].description
    assert "198.51.100.77" in alerts[0].description


@pytest.mark.parametrize("scenario", sorted(p.name for p in RECORDINGS.iterdir() if p.is_dir()))
def test_recordings_stay_quiet(scenario: str) -> None:
    pcap = RECORDINGS / scenario / "dc.pcap"
    if not pcap.exists():
        pytest.skip(f"no capture in {scenario}")
    assert 2025 not in ids_of(pcap)
