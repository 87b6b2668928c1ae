"""Helpers for the network-detector tests: lab recordings and wire activities."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.conftest import RECORDINGS  # noqa: F401 - re-exported to the tests
from tests.detectors.conftest import lab
from tests.helpers import act

from dcwatch.detectors.base import DetectionConfig
from dcwatch.detectors.engine import Engine
from dcwatch.entities.resolver import Resolver
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import Alert
from dcwatch.pipeline import ScanOptions, scan

DC = "10.0.0.10"
WS1 = "10.0.0.21"
WS2 = "10.0.0.22"


def recording(scenario: str, name: str = "dc.pcap") -> Path:
    """A lab recording (the project's own fixtures), or skip while it is being re-recorded."""
    p = lab(f"{scenario}/{name}")
    if p.stat().st_size == 0:
        pytest.skip(f"lab recording not present: {scenario}/{name}")
    return p


def alerts_of(path: Path | str, external_id: int | None = None) -> list[Alert]:
    """Alerts a scan of one file raises (optionally of one type)."""
    got = scan(ScanOptions([str(path)])).alerts
    return [a for a in got if external_id is None or a.external_id == external_id]


def ids_of(path: Path | str) -> set[int]:
    """External IDs a scan of one file raises."""
    return {a.external_id for a in alerts_of(path)}


def wire(kind: ActivityKind, seconds: float, src: str = WS1, actor: Account | None = None,
         protocol: str = "kerberos", **kw: Any) -> Activity:
    """A wire activity from ``src`` to the DC."""
    kw.setdefault("src_port", 50000 + int(seconds * 10) % 10000)
    kw.setdefault("dst_port", 88 if protocol == "kerberos" else 445)
    return act(kind, seconds, host=DC, actor=actor, protocol=protocol, src_ip=src, dst_ip=DC,
               **kw)


def run(slug: str, activities: list[Activity], mode: str = "forensic",
        threshold: str | None = None, **tunables: Any) -> list[Alert]:
    """Run one detector over synthetic activities."""
    cfg = DetectionConfig(mode=mode, thresholds={slug: threshold} if threshold else {},
                          tunables={slug: tunables} if tunables else {})
    return Engine(Resolver(), cfg, slugs=[slug]).run(activities)
