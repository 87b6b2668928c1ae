"""Excel reports (product.md section 3, "Download details"): one alert, or a list of alerts.

Sheets of an alert: Summary; one per entity role; Network activities; Event activities; one per
evidence table (lists of records, e.g. attacked accounts); Related entities (last). Datetimes are
real Excel dates (UTC), the header row is frozen and every table has an autofilter.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from dcwatch.model.activity import Activity
from dcwatch.model.alert import Alert

MAX_ROWS = 100_000  # product.md section 11: at most 100,000 rows per download


class _Book:
    def __init__(self) -> None:
        import xlsxwriter

        self.buf = io.BytesIO()
        self.wb = xlsxwriter.Workbook(self.buf, {"in_memory": True, "remove_timezone": True,
                                                 "strings_to_urls": False,
                                                 "strings_to_formulas": False})
        self.head = self.wb.add_format({"bold": True, "bg_color": "#1F2937",
                                        "font_color": "#FFFFFF", "border": 1})
        self.date = self.wb.add_format({"num_format": "yyyy-mm-dd hh:mm:ss.000"})
        self.wrap = self.wb.add_format({"text_wrap": True, "valign": "top"})
        self.bold = self.wb.add_format({"bold": True, "valign": "top"})
        self.link = self.wb.add_format({"font_color": "#1D4ED8", "underline": 1})
        self.names: set[str] = set()

    def sheet_name(self, name: str) -> str:
        base = re.sub(r"[\[\]:*?/\\]", " ", name).strip()[:31] or "Sheet"
        out, n = base, 2
        while out.lower() in self.names:
            suffix = f" ({n})"
            out = base[: 31 - len(suffix)] + suffix
            n += 1
        self.names.add(out.lower())
        return out

    def table(self, name: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        ws = self.wb.add_worksheet(self.sheet_name(name))
        widths = [max(10, len(c) + 2) for c in columns]
        for j, c in enumerate(columns):
            ws.write_string(0, j, c, self.head)
        i = 0
        for i, row in enumerate(rows, start=1):
            if i > MAX_ROWS:
                break
            for j, v in enumerate(row):
                self.cell(ws, i, j, v)
                widths[j] = min(60, max(widths[j], _width(v)))
        for j, w in enumerate(widths):
            ws.set_column(j, j, w)
        ws.freeze_panes(1, 0)
        ws.autofilter(0, 0, max(i, 1), max(len(columns) - 1, 0))

    def cell(self, ws: Any, i: int, j: int, v: Any) -> None:
        if v is None or v == "":
            ws.write_blank(i, j, None)
        elif isinstance(v, datetime):
            ws.write_datetime(i, j, v, self.date)
        elif isinstance(v, bool):
            ws.write_boolean(i, j, v)
        elif isinstance(v, int | float):
            ws.write_number(i, j, v)
        elif isinstance(v, dict | list):
            ws.write_string(i, j, _text(v))
        else:
            ws.write_string(i, j, str(v)[:32_000])

    def close(self) -> bytes:
        self.wb.close()
        return self.buf.getvalue()


def _text(v: Any) -> str:
    if isinstance(v, list) and all(not isinstance(x, dict | list) for x in v):
        return ", ".join(str(x) for x in v)
    return json.dumps(v, default=str, ensure_ascii=False)[:32_000]


def _width(v: Any) -> int:
    if isinstance(v, datetime):
        return 24
    return len(str(v)) + 2 if v is not None else 0


def _account(a: Any) -> str:
    return str(a) if a else ""


def _is_event(a: Activity) -> bool:
    return a.event_id is not None or (a.protocol or "") == "event"


_ACT_COLS = ["Time (UTC)", "Kind", "Event ID", "Protocol", "Recorded on", "Source computer",
             "Source IP", "Source port", "Destination computer", "Destination IP",
             "Destination port", "Actor", "Actor SID", "Target", "Outcome", "Status",
             "Details", "Origin"]


def _act_row(a: Activity) -> list[Any]:
    return [a.ts, str(a.kind), a.event_id, a.protocol, a.host, a.src_host, a.src_ip, a.src_port,
            a.dst_host, a.dst_ip, a.dst_port, _account(a.actor),
            a.actor.sid if a.actor else None, _account(a.target), a.outcome,
            f"0x{a.status:X}" if isinstance(a.status, int) else a.status,
            _text(a.fields) if a.fields else None, str(a.origin)]


def alert_workbook(alert: Alert, url: str | None = None, status_changed_at: datetime | None = None,
                   classification: str | None = None,
                   related: Sequence[Alert] = ()) -> bytes:
    """The "Download details" workbook of one alert (activities must be loaded)."""
    b = _Book()
    ws = b.wb.add_worksheet(b.sheet_name("Summary"))
    rows: list[tuple[str, Any]] = [
        ("Title", alert.title), ("Description", alert.description),
        ("Start time (UTC)", alert.first_seen), ("End time (UTC)", alert.last_seen),
        ("Severity", str(alert.severity).capitalize()), ("Status", str(alert.status).capitalize()),
        ("Status update time (UTC)", status_changed_at), ("Classification", classification),
        ("Phase", str(alert.phase)), ("External ID", alert.external_id), ("Type", alert.type),
        ("Alert ID", alert.id), ("Count", alert.count), ("MITRE ATT&CK", ", ".join(alert.mitre)),
    ]
    ws.write_string(0, 0, "Field", b.head)
    ws.write_string(0, 1, "Value", b.head)
    for i, (k, v) in enumerate(rows, start=1):
        ws.write_string(i, 0, k, b.bold)
        if isinstance(v, str) and k == "Description":
            ws.write_string(i, 1, v, b.wrap)
        else:
            b.cell(ws, i, 1, v)
    n = len(rows) + 1
    if url:
        ws.write_string(n, 0, "View in browser", b.bold)
        ws.write_url(n, 1, url, b.link, string=url)
        n += 1
    ws.set_column(0, 0, 26)
    ws.set_column(1, 1, 100)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, n - 1, 1)

    # one sheet per entity role
    roles: dict[str, list[Any]] = {}
    for e in alert.entities:
        roles.setdefault(e.role, []).append(e)
    for role, ents in roles.items():
        b.table(role.capitalize(), ["Name", "Type", "SamName", "Domain", "SID", "IP", "Details"],
                [[e.name, e.kind, e.name.rsplit("\\", 1)[-1],
                  e.name.split("\\", 1)[0] if "\\" in e.name else None, e.sid, e.ip, e.role]
                 for e in ents])

    net = [a for a in alert.activities if not _is_event(a)]
    evt = [a for a in alert.activities if _is_event(a)]
    b.table("Network activities", _ACT_COLS, (_act_row(a) for a in net))
    b.table("Event activities", _ACT_COLS, (_act_row(a) for a in evt))

    # alert-specific sheets: evidence tables (lists of records)
    for key, val in (alert.evidence or {}).items():
        if key.startswith("_") or not isinstance(val, list) or not val:
            continue
        if all(isinstance(x, dict) for x in val):
            cols = list(dict.fromkeys(k for x in val for k in x))
            b.table(key.replace("_", " ").capitalize(), [c.replace("_", " ").capitalize()
                                                          for c in cols],
                    ([x.get(c) for c in cols] for x in val))
        else:
            b.table(key.replace("_", " ").capitalize(), ["Value"], ([x] for x in val))

    # related entities (last sheet)
    rel_rows = []
    for n_, e in enumerate(alert.entities, start=1):
        unique = {"name": e.name, "kind": e.kind, "sid": e.sid, "ip": e.ip}
        seen_as = sorted({str(a.actor) for a in alert.activities
                          if a.actor and (a.actor.sid == e.sid and e.sid)})
        profile = {"roles": [x.role for x in alert.entities if x.name == e.name],
                   "activities": sum(1 for a in alert.activities if _involves(a, e.name, e.ip)),
                   "seen_as": seen_as, "related_alerts": [r.id for r in related
                                                          if any(x.name == e.name
                                                                 for x in r.entities)]}
        rel_rows.append([n_, e.kind, e.name, json.dumps({k: v for k, v in unique.items() if v}),
                         json.dumps(profile)])
    b.table("Related entities", ["ID", "Type", "Name", "Unique Entity Json",
                                 "Unique Entity Profile Json"], rel_rows)
    return b.close()


def _involves(a: Activity, name: str, ip: str | None) -> bool:
    short = name.rsplit("\\", 1)[-1].lower()
    hosts = {(a.host or "").split(".", 1)[0].lower(), (a.src_host or "").split(".", 1)[0].lower(),
             (a.dst_host or "").split(".", 1)[0].lower()}
    actor = (a.actor.name or "").lower() if a.actor else ""
    target = (a.target.name or "").lower() if a.target else ""
    return short in hosts or short in (actor, target, actor.rstrip("$")) or \
        (ip is not None and ip in (a.src_ip, a.dst_ip)) or name in (a.src_ip, a.dst_ip)


def alerts_workbook(alerts: Iterable[Any], base_url: str | None = None) -> bytes:
    """A filtered alert list: sheets Alerts and Entities (AlertView or Alert items)."""
    b = _Book()
    items = list(alerts)[:MAX_ROWS]

    def parts(x: Any) -> tuple[Alert, str | None, str | None]:
        if isinstance(x, Alert):
            return x, None, None
        return x.alert, x.classification, x.assigned_to

    b.table("Alerts", ["First seen (UTC)", "Last seen (UTC)", "Severity", "Status",
                       "Classification", "Assigned to", "Phase", "External ID", "Title",
                       "Description", "Count", "Entities", "Alert ID", "URL"],
            ([a.first_seen, a.last_seen, str(a.severity), str(a.status), cls, who,
              str(a.phase), a.external_id, a.title, a.description, a.count,
              "; ".join(f"{e.role}: {e.name}" for e in a.entities), a.id,
              f"{base_url.rstrip('/')}/alerts/{a.id}" if base_url else None]
             for a, cls, who in map(parts, items)))
    b.table("Entities", ["Alert ID", "Role", "Type", "Name", "SID", "IP"],
            ([a.id, e.role, e.kind, e.name, e.sid, e.ip]
             for a, _, _ in map(parts, items) for e in a.entities))
    return b.close()
