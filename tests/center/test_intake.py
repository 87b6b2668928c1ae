"""TCP and HTTP intake of pushed JSON records, shipped to a real nats-server (or spooled when
it is unreachable)."""

from __future__ import annotations

import asyncio
import http.client
import json
import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.center.harness import DATA
from tests.center.servers import NatsServer, free_port

from dcwatch.bus.jetstream import BusOptions
from dcwatch.bus.wire import decode_activities, stream_name
from dcwatch.intake import servers
from dcwatch.intake.shipper import Sensor, SensorOptions
from dcwatch.pipeline import ActivityStream

EVENTS = DATA / "demo" / "killchain.jsonl"
SAMBA = DATA / "recordings" / "killchain" / "samba-audit.jsonl"


def _post(port: int, body: bytes, token: str | None) -> tuple[int, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = {"Content-Type": "application/x-ndjson"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    conn.request("POST", "/events", body, headers)
    r = conn.getresponse()
    out = r.status, json.loads(r.read())
    conn.close()
    return out


def _tcp(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        cut = len(data) // 2 + 7  # a line split across two sends
        s.sendall(data[:cut])
        s.sendall(data[cut:])


async def _run_sensor(tmp: Path, bus_url: str, client) -> Sensor:
    sensor = Sensor(SensorOptions("lab", "dc1", str(tmp / "spool"), BusOptions(bus_url),
                                  mark_interval=0.1, publish_timeout=1.0))
    ports: dict[str, int] = {}
    tasks = [servers.tcp_intake(sensor, "127.0.0.1:0", on_listen=lambda p: ports.update(tcp=p)),
             servers.http_intake(sensor, "127.0.0.1:0", token="s3cret",
                                 on_listen=lambda p: ports.update(http=p))]
    stop = asyncio.Event()
    run = asyncio.create_task(sensor.run(tasks, stop))
    while len(ports) < 2:
        await asyncio.sleep(0.02)
    await asyncio.to_thread(client, ports)
    await asyncio.sleep(0.5)
    stop.set()
    await run
    return sensor


def test_tcp_and_http_records_reach_the_stream(tmp_path: Path, nats_server: NatsServer) -> None:
    answers: dict[str, tuple[int, dict]] = {}

    def client(ports: dict[str, int]) -> None:
        _tcp(ports["tcp"], EVENTS.read_bytes())
        answers["bad"] = _post(ports["http"], SAMBA.read_bytes(), "wrong")
        answers["ok"] = _post(ports["http"], SAMBA.read_bytes(), "s3cret")
        answers["again"] = _post(ports["http"], SAMBA.read_bytes(), "s3cret")  # a client retry

    sensor = asyncio.run(_run_sensor(tmp_path, nats_server.url, client))
    assert answers["bad"][0] == 401
    assert answers["ok"][0] == 200
    assert answers["ok"][1]["activities"] > 0
    want = {a.uid for a in ActivityStream([str(EVENTS)])} | \
        {a.uid for a in ActivityStream([str(SAMBA)])}

    async def read_stream() -> list[str]:
        import nats

        nc = await nats.connect(nats_server.url)
        js = nc.jetstream()
        sub = await js.pull_subscribe("dcwatch.lab.activities", stream=stream_name("lab"))
        uids: list[str] = []
        while True:
            try:
                msgs = await sub.fetch(500, timeout=0.5)
            except nats.errors.TimeoutError:
                break
            for m in msgs:
                uids += [a.uid for a in decode_activities(m.headers, m.data)[2]]
                await m.ack()
        await nc.close()
        return uids

    uids = asyncio.run(read_stream())
    assert set(uids) == want
    assert len(uids) == len(want)  # the retried POST was dropped by the duplicate window
    assert sensor.counters["spooled"] == 0


def test_http_answers_once_spooled_when_the_bus_is_down(tmp_path: Path) -> None:
    answers = {}

    def client(ports: dict[str, int]) -> None:
        answers["ok"] = _post(ports["http"], EVENTS.read_bytes(), "s3cret")

    sensor = asyncio.run(_run_sensor(tmp_path, f"nats://127.0.0.1:{free_port()}", client))
    assert answers["ok"][0] == 200
    assert sensor.counters["spooled"] == answers["ok"][1]["activities"] > 0
    assert len(sensor.spool) >= 1


def test_a_live_activity_older_than_the_watermark_sent_is_counted_late(tmp_path: Path) -> None:
    # A live source's activity can be produced seconds after its own time (a slow answer
    # paired with its request, a file's byte counts at its close): once a mark has said "all
    # I will still send is after T", an activity before T is late at the center. The sensor
    # counts them (the count travels in its marks: a health issue names it).
    acts = list(ActivityStream([str(EVENTS)]))[:3]
    now = datetime.now(UTC)

    async def go() -> Sensor:
        sensor = Sensor(SensorOptions("lab", "dc1", str(tmp_path / "spool"), lateness=5.0))
        sensor._queue = asyncio.Queue()
        clock = sensor.add_source("live:eth0", live=True)
        await sensor.emit(clock, [replace(acts[0], ts=now - timedelta(minutes=1))])
        assert sensor.counters["late"] == 0  # no watermark sent yet: nothing is late
        await sensor._mark()
        await sensor.emit(clock, [replace(acts[1], ts=now - timedelta(seconds=1)),
                                  replace(acts[2], ts=now - timedelta(seconds=30))])
        return sensor

    sensor = asyncio.run(go())
    assert sensor.counters["late"] == 1
