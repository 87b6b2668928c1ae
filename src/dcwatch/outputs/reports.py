"""Reports (product.md section 11) from a store, as Excel workbooks or standalone HTML.

* ``summary``: alerts in the period by type, severity and status; incidents; open health issues.
* ``sensitive-groups``: every change to the membership of a sensitive group (events, Samba audit,
  LDAP modify on the wire), whether or not it raised an alert.
* ``cleartext-passwords``: LDAP simple binds that sent a password in clear, by account and
  source computer, sensitive or not.
* ``lateral-movement``: sensitive accounts whose credentials non-sensitive accounts can reach
  (summary sheet with counts and averages, then details with sample paths).

The activities behind the second and third are stored by ``dcwatch scan --db`` even when no
alert links them (``pipeline.report_relevant``). At most 100,000 rows per sheet, as MDI.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from sqlalchemy import func, select

from dcwatch import __version__
from dcwatch.model.activity import ActivityKind
from dcwatch.store import schema as t
from dcwatch.store.db import Store
from dcwatch.store.directory import DirectoryStore

MAX_ROWS = 100_000
REPORTS = {
    "summary": "Summary",
    "sensitive-groups": "Modifications to sensitive groups",
    "cleartext-passwords": "Passwords exposed in cleartext",
    "lateral-movement": "Lateral movement paths to sensitive accounts",
}


@dataclass(slots=True)
class Sheet:
    name: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)


@dataclass(slots=True)
class Report:
    name: str
    title: str
    since: datetime | None
    until: datetime | None
    sheets: list[Sheet] = field(default_factory=list)
    generated: datetime = field(default_factory=lambda: datetime.now(UTC))

    def period(self) -> str:
        a = self.since.strftime("%Y-%m-%d %H:%M") if self.since else "the beginning"
        b = self.until.strftime("%Y-%m-%d %H:%M") if self.until else "now"
        return f"{a} – {b} UTC"


def _naive(v: datetime | None) -> datetime | None:
    return None if v is None else v.astimezone(UTC).replace(tzinfo=None)


def _fmt(v: Any) -> Any:
    if isinstance(v, datetime):
        v = v.replace(tzinfo=UTC) if v.tzinfo is None else v.astimezone(UTC)
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, list | tuple):
        return ", ".join(str(x) for x in v)
    return v


def build(name: str, store: Store, since: datetime | None = None,
          until: datetime | None = None) -> Report:
    """Build one report over the store."""
    if name not in REPORTS:
        raise ValueError(f"unknown report {name!r} (known: {', '.join(REPORTS)})")
    rep = Report(name, REPORTS[name], since, until)
    {"summary": _summary, "sensitive-groups": _sensitive_groups,
     "cleartext-passwords": _cleartext, "lateral-movement": _lateral}[name](rep, store)
    for s in rep.sheets:
        del s.rows[MAX_ROWS:]
    return rep


def _alert_rows(store: Store, rep: Report) -> list[Any]:
    a = t.alerts.c
    q = select(t.alerts).where(a.status != "deleted")
    if rep.since:
        q = q.where(a.last_seen >= _naive(rep.since))
    if rep.until:
        q = q.where(a.first_seen <= _naive(rep.until))
    with store.engine.connect() as c:
        return list(c.execute(q.order_by(a.first_seen)).mappings())


def _summary(rep: Report, store: Store) -> None:
    rows = _alert_rows(store, rep)
    by_type: dict[tuple[int, str], dict[str, int]] = {}
    for r in rows:
        d = by_type.setdefault((r["external_id"], r["title"]), {"open": 0, "total": 0})
        d["total"] += 1
        d["open"] += r["status"] == "open"
    sev = {s: sum(1 for r in rows if r["severity"] == s) for s in ("high", "medium", "low")}
    status = {s: sum(1 for r in rows if r["status"] == s) for s in ("open", "closed",
                                                                     "suppressed")}
    from dcwatch.incidents import correlate

    alerts = store.list_alerts(limit=20_000)
    if rep.since or rep.until:
        alerts = [x for x in alerts if (not rep.since or x.last_seen >= rep.since)
                  and (not rep.until or x.first_seen <= rep.until)]
    incs = correlate(alerts)
    with store.engine.connect() as c:
        h = t.health_issues.c
        health = list(c.execute(select(h.kind, h.severity, func.count()).where(
            h.status == "open").group_by(h.kind, h.severity)))
    rep.sheets.append(Sheet("Summary", ["Item", "Value"], [
        ["Report", rep.title], ["Period", rep.period()], ["Alerts", len(rows)],
        ["Open alerts", status["open"]], ["Closed alerts", status["closed"]],
        ["Suppressed alerts", status["suppressed"]], ["High", sev["high"]],
        ["Medium", sev["medium"]], ["Low", sev["low"]], ["Incidents", len(incs)],
        ["Open health issues", sum(n for _, _, n in health)],
        ["Generated", rep.generated], ["dcwatch", __version__]]))
    rep.sheets.append(Sheet("Alerts by type", ["External ID", "Title", "Open", "Total"], [
        [eid, title, d["open"], d["total"]]
        for (eid, title), d in sorted(by_type.items(), key=lambda kv: -kv[1]["total"])]))
    rep.sheets.append(Sheet("Incidents", ["Incident", "Title", "Severity", "First seen",
                                          "Last seen", "Alerts"], [
        [i.id, i.title, i.severity.value, i.first_seen, i.last_seen, len(i.alerts)]
        for i in sorted(incs, key=lambda i: i.first_seen)]))
    rep.sheets.append(Sheet("Health issues", ["Kind", "Severity", "Open"],
                            [[k, s, n] for k, s, n in health]))


def _computer_of(store: Store) -> dict[str, str | None]:
    e = t.entities.c
    with store.engine.connect() as c:
        return {r.name: r.ips.get("computer") for r in c.execute(
            select(e.name, e.ips).where(e.kind == "ip")) if isinstance(r.ips, dict)}


def _sensitive_names(store: Store) -> dict[str, str]:
    e = t.entities.c
    out: dict[str, str] = {}
    with store.engine.connect() as c:
        for r in c.execute(select(e.name, e.tags, e.evidence).where(e.kind == "user")):
            if "sensitive" in (r.tags or []):
                out[r.name.lower().rsplit("\\", 1)[-1]] = r.evidence or "sensitive"
    return out


def _sensitive_groups(rep: Report, store: Store) -> None:
    kinds = [ActivityKind.GROUP_MEMBER_ADDED, ActivityKind.GROUP_MEMBER_REMOVED,
             ActivityKind.DS_MODIFY]
    acts = DirectoryStore(store).activities([str(k) for k in kinds], rep.since, rep.until)
    from dcwatch.entities.resolver import cn_of

    comp = _computer_of(store)
    rows = []
    for a in acts:
        f = a.fields
        if a.kind is ActivityKind.DS_MODIFY:
            for ch in f.get("changes") or []:
                if ch.get("attribute") != "member":
                    continue
                for m in (f.get("values") or {}).get("member") or [None]:
                    rows.append([a.ts, "added" if ch.get("op") == "add" else "removed",
                                 cn_of(f.get("dn")), cn_of(m) if m else "", _actor(a),
                                 a.src_ip or "", comp.get(a.src_ip or "", ""), a.host or "",
                                 "LDAP modify (wire)", str(a.origin)])
            continue
        group = (a.target.name if a.target and a.target.name else cn_of(f.get("group_dn")))
        member = f.get("member_name") or f.get("member_sid") or ""
        rows.append([a.ts, "added" if a.kind is ActivityKind.GROUP_MEMBER_ADDED else "removed",
                     group, cn_of(member) if "=" in member else member, _actor(a),
                     a.src_ip or "", comp.get(a.src_ip or "", ""), a.host or "",
                     f"event {a.event_id}" if a.event_id else a.protocol or "",
                     str(a.origin)])
    groups: dict[Any, int] = {}
    for r in rows:
        groups[r[2]] = groups.get(r[2], 0) + 1
    rep.sheets.append(Sheet("Summary", ["Group", "Changes"],
                            [[g, n] for g, n in sorted(groups.items())] or []))
    rep.sheets.append(Sheet("Changes", ["Time (UTC)", "Change", "Group", "Member", "Actor",
                                        "Source IP", "Source computer", "Domain controller",
                                        "Seen in", "Origin"], rows))


def _actor(a: Any) -> str:
    if a.actor is None:
        return ""
    return str(a.actor) if a.actor.name else (a.actor.sid or "")


def _cleartext(rep: Report, store: Store) -> None:
    acts = DirectoryStore(store).activities([str(ActivityKind.LDAP_BIND)], rep.since, rep.until)
    comp = _computer_of(store)
    sens = _sensitive_names(store)
    rows = []
    per: dict[tuple[str, str], list[Any]] = {}
    for a in acts:
        if not a.fields.get("cleartext_password"):
            continue
        acct = a.fields.get("name") or _actor(a)
        short = acct.lower().rsplit("\\", 1)[-1].split("@", 1)[0].split(",", 1)[0]
        short = short.removeprefix("cn=")
        src = comp.get(a.src_ip or "", "") or a.src_host or ""
        why = sens.get(short, "")
        rows.append([a.ts, acct, "yes" if why else "no", why, a.src_ip or "", src,
                     a.dst_ip or a.host or "", a.outcome or "", str(a.origin)])
        k = (acct, a.src_ip or "")
        p = per.setdefault(k, [acct, "yes" if why else "no", a.src_ip or "", src, 0, a.ts, a.ts])
        p[4] += 1
        p[6] = a.ts
    rep.sheets.append(Sheet("Summary", ["Account", "Sensitive", "Source IP", "Source computer",
                                        "Binds", "First", "Last"], list(per.values())))
    rep.sheets.append(Sheet("Binds", ["Time (UTC)", "Account", "Sensitive", "Why sensitive",
                                      "Source IP", "Source computer", "Server", "Outcome",
                                      "Origin"], rows))


def _lateral(rep: Report, store: Store) -> None:
    from dcwatch.entities.lmp import RETENTION, LateralMovement

    ds = DirectoryStore(store)
    snap = ds.load_snapshot()
    sessions = ds.sessions(rep.since)
    if rep.until:
        sessions = [s for s in sessions if s[2] <= rep.until]
    now = rep.until or max((s[2] for s in sessions), default=datetime.now(UTC))
    retention = (now - rep.since) if rep.since else max(RETENTION, timedelta(days=60))
    lm = LateralMovement(snap, sessions, now=now, retention=retention)
    ex = lm.exposed_accounts(samples=5)
    avg = sum(e.initiators for e in ex) / len(ex) if ex else 0
    avg_len = [len(p.steps) for e in ex for p in e.samples]
    rep.sheets.append(Sheet("Summary", ["Item", "Value"], [
        ["Report", rep.title], ["Period", rep.period()],
        ["Directory", f"{snap.domain} ({snap.source}, {snap.synced_at})" if snap else
         "none: run dcwatch directory sync or import"],
        ["Sensitive accounts exposed", len(ex)],
        ["Non-sensitive accounts with a path (sum)", sum(e.initiators for e in ex)],
        ["Average initiators per exposed account", round(avg, 1)],
        ["Average path length (nodes)", round(sum(avg_len) / len(avg_len), 1) if avg_len
         else 0],
        ["Sessions considered", len(sessions)],
        ["Riskiest (3+ non-sensitive initiators)", sum(1 for e in ex if e.initiators >= 3)]]))
    rows = []
    for e in ex:
        samples: list[Any] = e.samples or [None]
        for p in samples:
            rows.append([e.account, e.why, e.initiators, ", ".join(e.computers),
                         p.steps[0].label if p else "", ", ".join(p.computers) if p else "",
                         p.text() if p else ""])
    rep.sheets.append(Sheet("Details", ["Sensitive account", "Why sensitive",
                                        "Non-sensitive initiators", "Credentials exposed on",
                                        "Path initiator", "Via", "Path"], rows))


# --- rendering ------------------------------------------------------------------------------------


def to_xlsx(rep: Report) -> bytes:
    """The report as an Excel workbook (one sheet per table)."""
    import xlsxwriter

    buf = io.BytesIO()
    wb = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_urls": False})
    bold = wb.add_format({"bold": True, "bg_color": "#E2E8F0"})
    for s in rep.sheets:
        ws = wb.add_worksheet(s.name[:31])
        ws.write_row(0, 0, s.columns, bold)
        widths = [len(c) for c in s.columns]
        for i, row in enumerate(s.rows, start=1):
            vals = [_fmt(v) for v in row]
            ws.write_row(i, 0, vals)
            for j, v in enumerate(vals[: len(widths)]):
                widths[j] = min(80, max(widths[j], len(str(v))))
        for j, w in enumerate(widths):
            ws.set_column(j, j, w + 2)
        ws.freeze_panes(1, 0)
    wb.close()
    return buf.getvalue()


def to_html(rep: Report) -> str:
    """The report as one standalone HTML page (inline CSS, no scripts)."""
    out = ["<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">",
           f"<title>{escape(rep.title)} · dcwatch</title><style>",
           "body{font:14px system-ui,sans-serif;margin:24px;color:#0f172a}"
           "table{border-collapse:collapse;margin:8px 0 24px}"
           "th,td{border:1px solid #cbd5e1;padding:4px 8px;text-align:left;vertical-align:top}"
           "th{background:#e2e8f0}h2{margin-top:28px}.muted{color:#64748b}",
           "</style></head><body>",
           f"<h1>{escape(rep.title)}</h1><p class=\"muted\">Period: {escape(rep.period())}. "
           f"Generated {escape(str(_fmt(rep.generated)))} UTC by dcwatch "
           f"{escape(__version__)}.</p>"]
    for s in rep.sheets:
        out.append(f"<h2>{escape(s.name)}</h2>")
        if not s.rows:
            out.append("<p class=\"muted\">Nothing in this period.</p>")
            continue
        out.append("<table><thead><tr>" + "".join(f"<th>{escape(c)}</th>" for c in s.columns)
                   + "</tr></thead><tbody>")
        for row in s.rows:
            out.append("<tr>" + "".join(f"<td>{escape(str(_fmt(v)))}</td>" for v in row)
                       + "</tr>")
        out.append("</tbody></table>")
    out.append("</body></html>")
    return "".join(out)
