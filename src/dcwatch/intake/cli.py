"""``dcwatch ship``: a sensor that parses locally and ships activities to the bus.

Registered in ``dcwatch.cli`` with ``main.add_command``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import ssl
import sys
from typing import Any

import click

from dcwatch.bus.cli import bus_options, make_bus
from dcwatch.errors import DcwatchError


@click.command()
@bus_options
@click.option("--site", required=True, help="Site (stream) the sensor belongs to.")
@click.option("--sensor", "sensor_id", required=True, help="This sensor's name (e.g. dc01).")
@click.option("--spool", "spool_dir", required=True, type=click.Path(file_okay=False),
              help="Directory of the disk spool and source positions.")
@click.option("--spool-max", default="1GiB", show_default=True,
              help="Spool bound (bytes, or with KiB/MiB/GiB); oldest data dropped past it.")
@click.option("--interface", "-i", "interfaces", multiple=True,
              help="Capture live DC traffic on this interface (repeatable).")
@click.option("--filter", "bpf", help="Capture filter (tcpdump syntax).")
@click.option("--samba-log", multiple=True, type=click.Path(dir_okay=False),
              help="Follow a Samba JSON audit log (rotation followed; repeatable).")
@click.option("--tcp", "tcp_listen", multiple=True, metavar="HOST:PORT",
              help="Accept JSON lines over TCP (NXLog om_tcp, Logstash json_lines).")
@click.option("--http", "http_listen", multiple=True, metavar="HOST:PORT",
              help="Accept POSTed JSON records over HTTP (NXLog om_http, Logstash http).")
@click.option("--http-token", envvar="DCWATCH_HTTP_TOKEN",
              help="Bearer token HTTP clients must send.")
@click.option("--tls-cert", type=click.Path(dir_okay=False),
              help="Serve --tcp and --http over TLS with this certificate (PEM).")
@click.option("--tls-key", type=click.Path(dir_okay=False))
@click.option("--replay", multiple=True, type=click.Path(exists=True),
              help="Ship files/directories as dcwatch scan reads them (back-fill, tests).")
@click.option("--rate", type=float, help="Pace --replay to this many activities per second.")
@click.option("--lateness", type=float, default=5.0, show_default=True,
              help="Seconds a live activity may arrive after its timestamp (a slow answer "
              "paired with its request, a forwarder's batching); later ones are counted late.")
@click.option("--exit-when-done", is_flag=True,
              help="Leave once every source is finished (with --replay only).")
@click.option("-v", "--verbose", is_flag=True)
def ship(**kw: Any) -> None:
    """Sensor: parse events and traffic locally, ship activities to the bus (spooling)."""
    from dcwatch.intake import servers, sources
    from dcwatch.intake.shipper import Sensor, SensorOptions

    logging.basicConfig(level=logging.INFO if kw.pop("verbose") else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    bus = make_bus(kw)
    tls = None
    if kw["tls_cert"]:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(kw["tls_cert"], kw["tls_key"])
    try:
        sensor = Sensor(SensorOptions(kw["site"], kw["sensor_id"], kw["spool_dir"], bus,
                                      _size(kw["spool_max"]), lateness=kw["lateness"]))
    except DcwatchError as e:
        click.echo(f"dcwatch: {e}", err=True)
        sys.exit(2)
    tasks = []
    if kw["replay"]:
        tasks.append(sources.replay(sensor, list(kw["replay"]), kw["rate"]))
    for path in kw["samba_log"]:
        tasks.append(sources.samba_tail(sensor, path, kw["spool_dir"]))
    for iface in kw["interfaces"]:
        tasks.append(sources.live_capture(sensor, iface, kw["bpf"]))
    for addr in kw["tcp_listen"]:
        tasks.append(servers.tcp_intake(sensor, addr, tls))
    for addr in kw["http_listen"]:
        tasks.append(servers.http_intake(sensor, addr, kw["http_token"], tls))
    if not tasks:
        raise click.UsageError("nothing to read: give --interface, --samba-log, --tcp, --http "
                               "or --replay")

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await sensor.run(tasks, stop, exit_when_done=kw["exit_when_done"])

    asyncio.run(main())
    c = sensor.counters
    click.echo(f"dcwatch: sensor {kw['sensor_id']}: {c['published']} published, "
               f"{c['spooled']} spooled, {len(sensor.spool)} spool segment(s) left, "
               f"{sensor.spool.dropped} dropped", err=True)


def _size(text: str) -> int:
    units = {"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "k": 1 << 10, "m": 1 << 20,
             "g": 1 << 30, "b": 1}
    t = text.strip().lower()
    for u, mult in units.items():
        if t.endswith(u):
            return int(float(t[: -len(u)]) * mult)
    return int(t)
