"""Detector test helpers: labelled recordings (skipped when ../shared/data is absent) and
synthetic activities run through the real engine."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from dcwatch.detectors.base import DetectionConfig
from dcwatch.detectors.engine import Engine, Exclusion
from dcwatch.entities.resolver import Resolver
from dcwatch.model.activity import Account, Activity, ActivityKind, Origin
from dcwatch.model.alert import Alert
from dcwatch.pipeline import ScanOptions, scan

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LAB = Path(__file__).resolve().parents[1] / "data" / "recordings"
T0 = datetime(2024, 1, 8, 9, 0, 0, tzinfo=UTC)
DC_IP = "10.0.0.10"


def shared(rel: str) -> Path:
    """A labelled recording under ../shared/data, or skip the test."""
    p = SHARED / rel
    if not p.exists():
        pytest.skip(f"shared data file not present: {rel}")
    return p


def lab(rel: str) -> Path:
    """A lab recording under tests/data/recordings, or skip the test."""
    p = LAB / rel
    if not p.exists():
        pytest.skip(f"lab recording not present: {rel}")
    return p


def scan_alerts(path: Path, **kw: Any) -> list[Alert]:
    """Scan one recording alone, as ``dcwatch eval`` does."""
    return scan(ScanOptions([str(path)], **kw)).alerts


def ids(alerts: Iterable[Alert]) -> set[int]:
    """External IDs raised."""
    return {a.external_id for a in alerts}


def act(kind: ActivityKind, ts: datetime | float = 0, **kw: Any) -> Activity:
    """A synthetic activity; ``ts`` may be seconds after T0. Host defaults to the DC."""
    if not isinstance(ts, datetime):
        ts = T0 + timedelta(seconds=ts)
    kw.setdefault("host", "DC01.corp.local")
    kw.setdefault("protocol", "event")
    return Activity(ts=ts, kind=kind, origin=Origin("test"), **kw)


def wire_rpc(interface: str, operation: str, ts: float = 0, args: dict | None = None,
             src: str = "10.0.0.21", dst: str = DC_IP, outcome: str | None = "success",
             actor: Account | None = None, **fields: Any) -> Activity:
    """An ``rpc.call`` as the DCE/RPC decoder emits it."""
    return act(ActivityKind.RPC_CALL, ts, host=dst, src_ip=src, dst_ip=dst,
               protocol="dcerpc", outcome=outcome, actor=actor,
               fields={"interface": interface, "operation": operation, "args": args or {},
                       **fields})


def run(activities: Iterable[Activity], slug: str, *, dcs: tuple[str, ...] = ("DC01",),
        dc_ips: tuple[str, ...] = (DC_IP,), config: DetectionConfig | None = None,
        exclusions: Iterable[Exclusion] = (), honeytokens: list[str] | None = None
        ) -> list[Alert]:
    """Run one detector over synthetic activities (time-ordered) through the engine."""
    resolver = Resolver(list(dcs), honeytokens or [])
    for ip in dc_ips:
        resolver.dc_ips[ip] = "test: configured DC address"
    engine = Engine(resolver, config or DetectionConfig(), [slug], exclusions)
    return engine.run(sorted(activities, key=lambda a: a.ts))


USER = Account("mallory", "CORP", "S-1-5-21-1-2-3-1105")
ADMIN = Account("Administrator", "CORP", "S-1-5-21-1-2-3-500")
