"""``dcwatch center`` (consume the bus, detect, store) and ``dcwatch health`` (health issues).

Registered in ``dcwatch.cli`` with ``main.add_command``.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from typing import Any

import click

from dcwatch.bus.cli import bus_options, make_bus
from dcwatch.errors import DcwatchError


@click.command()
@bus_options
@click.option("--db", required=True, envvar="DCWATCH_DB",
              help="SQLAlchemy URL (postgresql+psycopg://user@host/db) or SQLite file.")
@click.option("--site", "sites", multiple=True, required=True,
              help="Site whose stream to consume (repeatable: one merged detection).")
@click.option("--name", default="center", show_default=True,
              help="Durable consumer and checkpoint name.")
@click.option("--mode", type=click.Choice(["live", "forensic"]), default="live",
              show_default=True, help="live: learning periods honoured; forensic: as scan.")
@click.option("--dc", "dcs", multiple=True, help="Name a domain controller (repeatable).")
@click.option("--honeytoken", multiple=True, help="Tag an account as a honeytoken.")
@click.option("--sensitive", multiple=True, help="Tag an account or group as sensitive.")
@click.option("--checkpoint-interval", type=float, default=2.0, show_default=True)
@click.option("--idle-after", type=float, default=30.0, show_default=True,
              help="Seconds after which a silent sensor stops holding the others back.")
@click.option("--silent-after", type=float, default=300.0, show_default=True,
              help="Seconds after which a silent sensor is a health issue.")
@click.option("--until-eof", is_flag=True,
              help="Stop once every sensor has finished its inputs (replays, tests).")
@click.option("--expect-sensors", type=int, default=0,
              help="Hold processing until this many sensors have been heard (at most "
              "--idle-after seconds); with --until-eof, wait for at least this many to finish.")
@click.option("--reset", is_flag=True, help="Forget the checkpoint and start from the stream's "
              "beginning.")
@click.option("-v", "--verbose", is_flag=True)
def center(**kw: Any) -> None:
    """Consume the sites' activity streams: detect and store alerts (the center)."""
    from dcwatch.center.runner import Center, CenterOptions
    from dcwatch.center.state import drop_checkpoint
    from dcwatch.store import Store

    logging.basicConfig(level=logging.INFO if kw.pop("verbose") else logging.WARNING,
                        format="%(asctime)s %(name)s %(message)s")
    bus = make_bus(kw)
    try:
        if kw.pop("reset"):
            drop_checkpoint(Store(kw["db"]), kw["name"])
        opts = CenterOptions(sites=list(kw["sites"]), db=kw["db"], bus=bus, name=kw["name"],
                             mode=kw["mode"], dcs=list(kw["dcs"]),
                             honeytokens=list(kw["honeytoken"]),
                             sensitive=list(kw["sensitive"]),
                             checkpoint_interval=kw["checkpoint_interval"],
                             idle_after=kw["idle_after"], silent_after=kw["silent_after"],
                             until_eof=kw["until_eof"], expect_sensors=kw["expect_sensors"])
        c = Center(opts)
    except DcwatchError as e:
        click.echo(f"dcwatch: {e}", err=True)
        sys.exit(2)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, c.stop)
        await c.run()

    asyncio.run(main())
    click.echo(f"dcwatch: center {opts.name}: {c.processed} activities processed, "
               f"{c.reorder.duplicates} duplicates, {c.reorder.late} late, "
               f"{c.redelivered} redelivered; alerts in {opts.db}", err=True)


@click.command()
@click.option("--db", required=True, envvar="DCWATCH_DB")
@click.option("--all", "show_all", is_flag=True, help="Closed issues too.")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table",
              show_default=True)
def health(db: str, show_all: bool, fmt: str) -> None:
    """Health issues the center recorded (sensor silent, drops, lag, clock skew)."""
    import orjson

    from dcwatch.center.state import list_issues
    from dcwatch.store import Store

    try:
        rows = list_issues(Store(db), None if show_all else "open")
    except DcwatchError as e:
        click.echo(f"dcwatch: {e}", err=True)
        sys.exit(2)
    for r in rows:
        if fmt == "jsonl":
            click.echo(orjson.dumps(r, default=str).decode())
        else:
            where = "/".join(x for x in (r["site"], r["sensor"]) if x) or "global"
            click.echo(f"{r['status']:6} {r['severity']:6} {r['kind']:16} {where:24} "
                       f"x{r['count']:<4} {r['description']}")
    if fmt == "table" and not rows:
        click.echo("no open health issues" if not show_all else "no health issues")
