"""End to end with real servers: sensors replaying the recordings ship to nats-server, a center
consumes into PostgreSQL; the final alerts (ids, counts, linked activities) must equal
``dcwatch.pipeline.scan`` of the same data in one process, also across faults: the center killed
mid-stream, the bus stopped for seconds, a sensor killed and restarted, duplicate deliveries."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from tests.center import harness as h
from tests.center.servers import NatsServer

from dcwatch.store import Store
from dcwatch.store import schema as t

SITE = "lab"


@pytest.fixture(scope="module")
def expected(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return h.reference(h.ALL_INPUTS, tmp_path_factory.mktemp("ref") / "ref.db")


def _sensor(tmp: Path, bus: str, i: int, group: list[str], rate: float | None = None) -> Any:
    """Sensor ``s<i>`` replaying ``group`` (its log: ``s<i>.log``, its spool: ``spool<i>``)."""
    return h.sensor(bus, SITE, f"s{i}", tmp / f"spool{i}", group, tmp / f"s{i}.log", rate)


def _run(tmp: Path, bus: str, db: str, n_sensors: int = 3, rate: float | None = None,
         inputs: list[str] = h.ALL_INPUTS) -> tuple[list, list[Path], object]:
    logs = [tmp / f"s{i}.log" for i in range(n_sensors)]
    procs = [_sensor(tmp, bus, i, g, rate) for i, g in enumerate(h.groups(inputs, n_sensors))]
    return procs, logs, None


def _stored_as_scan(procs: list, center: Any, logs: list[Path], clog: Path, db: str,
                    expected: dict) -> dict:
    """Wait for the sensors and the center: it ended cleanly and stored what ``scan`` stores
    (its log shown on failure). Returns the alert table."""
    h.wait([*procs, center], 60, [*logs, clog])
    assert center.returncode == 0, clog.read_text()[-2000:]
    got = h.alert_table(db)
    assert got == expected, clog.read_text()[-2000:]
    return got


def test_sensors_to_center_equals_single_process_scan(
        tmp_path: Path, nats_server: NatsServer, pg_url: str, expected: dict) -> None:
    clog = tmp_path / "center.log"
    c = h.center(nats_server.url, pg_url, SITE, clog, expect=3)
    procs, logs, _ = _run(tmp_path, nats_server.url, pg_url)
    got = _stored_as_scan(procs, c, logs, clog, pg_url, expected)
    assert len(got) >= 20


@pytest.mark.slow
def test_center_killed_mid_stream_resumes_from_checkpoint(
        tmp_path: Path, nats_server: NatsServer, pg_url: str, expected: dict) -> None:
    Store(pg_url).engine.dispose()  # migrated before the center starts: the test reads it
    clog = tmp_path / "center.log"
    c = h.center(nats_server.url, pg_url, SITE, clog, expect=3, checkpoint_interval=0.3)
    procs, logs, _ = _run(tmp_path, nats_server.url, pg_url, rate=150)
    eng = create_engine(pg_url)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # kill once a checkpoint and some alerts exist
        with eng.connect() as conn:
            cps = conn.execute(select(t.center_checkpoints.c.activities)).scalars().all()
            n_alerts = len(conn.execute(select(t.alerts.c.id)).all())
        if cps and cps[0] > 100 and n_alerts:
            break
        time.sleep(0.1)
    assert c.poll() is None, "the center finished before it could be killed mid-stream"
    h.kill(c)
    eng.dispose()
    assert 0 < len(h.alert_table(pg_url)) < len(expected)
    time.sleep(0.5)
    c2 = h.center(nats_server.url, pg_url, SITE, clog, expect=3)
    _stored_as_scan(procs, c2, logs, clog, pg_url, expected)


@pytest.mark.slow
def test_bus_down_for_seconds_sensors_spool_and_catch_up(
        tmp_path: Path, nats_server: NatsServer, pg_url: str, expected: dict) -> None:
    clog = tmp_path / "center.log"
    c = h.center(nats_server.url, pg_url, SITE, clog, expect=3)
    procs, logs, _ = _run(tmp_path, nats_server.url, pg_url, rate=120)
    time.sleep(2.5)
    nats_server.stop()
    time.sleep(3)
    nats_server.start()
    _stored_as_scan(procs, c, logs, clog, pg_url, expected)
    spooled = [line for log in logs for line in log.read_text().splitlines()
               if "published" in line and "spooled" in line]
    assert any(" 0 spooled" not in line for line in spooled), spooled


@pytest.mark.slow
def test_a_sensor_that_starts_late_is_waited_for(
        tmp_path: Path, nats_server: NatsServer, pg_url: str, expected: dict) -> None:
    # The center expects three sensors; two ship everything before the third is even started
    # (a slow start, or a sensor whose first messages sat in its spool while the bus was down).
    # Its activities must not arrive behind the others' released time and be analysed late.
    clog = tmp_path / "center.log"
    c = h.center(nats_server.url, pg_url, SITE, clog, expect=3)
    logs = [tmp_path / f"s{i}.log" for i in range(3)]
    g = h.groups(h.ALL_INPUTS, 3)
    procs = [_sensor(tmp_path, nats_server.url, i, g[i]) for i in (0, 2)]
    h.wait(procs, 60, [*logs, clog])
    procs.append(_sensor(tmp_path, nats_server.url, 1, g[1]))
    _stored_as_scan(procs, c, logs, clog, pg_url, expected)
    assert " 0 late" in clog.read_text(), clog.read_text()[-2000:]


@pytest.mark.slow
def test_sensor_killed_and_restarted_nothing_lost_nothing_doubled(
        tmp_path: Path, nats_server: NatsServer, pg_url: str, expected: dict) -> None:
    clog = tmp_path / "center.log"
    c = h.center(nats_server.url, pg_url, SITE, clog, expect=3)
    procs, logs, _ = _run(tmp_path, nats_server.url, pg_url, rate=150)
    time.sleep(2.0)
    assert procs[1].poll() is None
    h.kill(procs[1])  # it replays from the start again: JetStream drops what it already has
    procs[1] = _sensor(tmp_path, nats_server.url, 1, h.groups(h.ALL_INPUTS, 3)[1], 400)
    _stored_as_scan(procs, c, logs, clog, pg_url, expected)


def test_duplicate_deliveries_are_dropped(tmp_path: Path, nats_server: NatsServer,
                                          pg_url: str, expected: dict) -> None:
    # Two sensors ship the same data (a standalone sensor and a DC sensor seeing the same
    # events): every activity is published twice, with the same uid.
    half = h.groups(h.ALL_INPUTS, 2)
    clog = tmp_path / "center.log"
    c = h.center(nats_server.url, pg_url, SITE, clog, expect=4)
    logs = [tmp_path / f"s{i}.log" for i in range(4)]
    procs = [_sensor(tmp_path, nats_server.url, i, half[i // 2]) for i in range(4)]
    _stored_as_scan(procs, c, logs, clog, pg_url, expected)
    # A second center over the same stream from the start (every message delivered again into
    # the same database): still no duplicate alert, no count doubled.
    c2 = h.start(["center", "--bus", nats_server.url, "--db", pg_url, "--site", SITE,
                  "--mode", "forensic", "--until-eof", "--expect-sensors", "4", "--name",
                  "second"], clog)
    _stored_as_scan([], c2, [], clog, pg_url, expected)
