"""Alerts and activities as JSON lines, one JSON document, or a terminal table."""

from __future__ import annotations

from collections.abc import Iterable
from typing import IO

import orjson

from dcwatch.model.activity import Activity
from dcwatch.model.alert import Alert

_OPTS = orjson.OPT_NON_STR_KEYS


def write_alerts(alerts: Iterable[Alert], fmt: str, out: IO[str]) -> None:
    """Write alerts in ``jsonl``, ``json`` or ``table`` format."""
    if fmt == "jsonl":
        for a in alerts:
            out.write(orjson.dumps(a.to_dict(), option=_OPTS).decode() + "\n")
    elif fmt == "json":
        out.write(orjson.dumps([a.to_dict() for a in alerts],
                               option=_OPTS | orjson.OPT_INDENT_2).decode() + "\n")
    else:
        write_table(list(alerts), out)


def write_activities(acts: Iterable[Activity], fmt: str, out: IO[str]) -> int:
    """Write activities (``jsonl`` or ``table``); returns how many."""
    n = 0
    for a in acts:
        n += 1
        if fmt == "table":
            actor = str(a.actor) if a.actor else ""
            out.write(f"{a.ts:%Y-%m-%d %H:%M:%S}  {a.kind:<28} {a.host or '':<24} "
                      f"{a.src_ip or '':<16} {actor}\n")
        else:
            out.write(orjson.dumps(a.to_dict(), option=_OPTS).decode() + "\n")
    return n


def write_table(alerts: list[Alert], out: IO[str]) -> None:
    """A readable table (rich when available)."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(alerts)} alert(s)", show_lines=True, expand=True)
    table.add_column("first seen (UTC)", no_wrap=True)
    table.add_column("sev")
    table.add_column("ID")
    table.add_column("alert")
    table.add_column("description")
    for a in alerts:
        table.add_row(f"{a.first_seen:%Y-%m-%d %H:%M:%S}", a.severity.value,
                      str(a.external_id), a.title, a.description)
    Console(file=out, width=max(120, Console().width)).print(table)
