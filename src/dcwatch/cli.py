"""``dcwatch`` command line: scan, activities, alerts, detectors, version."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import click

from dcwatch import __version__
from dcwatch.center.cli import center as _center  # nats-py loads only when these run
from dcwatch.center.cli import health as _health
from dcwatch.cli_directory import directory as _directory
from dcwatch.cli_directory import lmp as _lmp
from dcwatch.cli_directory import report as _report
from dcwatch.cli_directory import respond as _respond
from dcwatch.errors import ConfigError, DcwatchError
from dcwatch.intake.cli import ship as _ship
from dcwatch.sources.base import SourceStats
from dcwatch.web.cli import serve as _serve  # FastAPI itself loads only when serve runs
from dcwatch.web.cli import user as _user

FORMATS = click.Choice(["jsonl", "json", "table"])


def _err(msg: str) -> None:
    click.echo(msg, err=True)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """dcwatch: identity threat detection for Active Directory."""


def _fingerprint(alert: Any) -> tuple | None:
    """What makes a stored alert changed: its time frame, count and activity log size."""
    if alert is None:
        return None
    return (alert.last_seen, alert.first_seen, alert.count, len(alert.activities))


def _notify(store: Any, targets: list[str], alerts: list, ids: list[str],
            before: dict[str, tuple | None]) -> None:
    """Queue and deliver a scan's new alerts and the stored alerts it changed (not the rest)."""
    from dcwatch.outputs.webhook import Notifier

    notifier = Notifier(store, targets)
    for a, stored_id in zip(alerts, ids, strict=True):
        full = store.get_alert(stored_id)
        if full is None:
            continue
        if stored_id == a.id and before.get(a.id) is None:
            notifier(full, "new")
        elif _fingerprint(full) != before.get(stored_id, before.get(a.id)):
            notifier(full, "update")
    notifier.flush()


@main.command()
def version() -> None:
    """Print the version."""
    click.echo(f"dcwatch {__version__}")


def _check_paths(paths: tuple[str, ...]) -> None:
    bad = [p for p in paths if not os.path.exists(p)]
    for p in bad:
        _err(f"dcwatch: {p}: no such file or directory")
    unreadable = [p for p in paths if os.path.isfile(p) and not os.access(p, os.R_OK)]
    for p in unreadable:
        _err(f"dcwatch: {p}: permission denied")
    if bad or unreadable:
        sys.exit(2)


def _parse_thresholds(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for v in values:
        slug, _, level = v.partition("=")
        if level not in ("high", "medium", "low"):
            raise click.BadParameter(
                f"{v!r}: expected SLUG=high|medium|low", param_hint="--threshold"
            )
        out[slug] = level
    return out


def _parse_tunables(values: tuple[str, ...]) -> dict[str, dict[str, str]]:
    from dcwatch.detectors import registry

    out: dict[str, dict[str, str]] = {}
    for v in values:
        key, eq, value = v.partition("=")
        slug, dot, name = key.strip().partition(".")
        cls = registry().get(slug)
        if (not eq or not dot or cls is None or name.startswith("_")
                or callable(getattr(cls, name, callable))):
            raise click.BadParameter(
                f"{v!r}: expected SLUG.TUNABLE=VALUE naming a detector's tunable",
                param_hint="--tunable",
            )
        out.setdefault(slug, {})[name] = value
    return out


def _parse_exclusions(values: tuple[str, ...]):
    from dcwatch.detectors.engine import Exclusion

    out = []
    for v in values:
        parts = v.split(":", 2)
        if len(parts) != 3 or parts[1] not in ("user", "computer", "ip", "any"):
            raise click.BadParameter(
                f"{v!r}: expected SLUG|*:user|computer|ip|any:VALUE", param_hint="--exclude"
            )
        out.append(Exclusion(parts[0], parts[1], parts[2]))
    return out


class _Progress:
    """A progress bar over inputs on stderr, only when stderr is a terminal."""

    def __init__(self, total: int) -> None:
        self.bar = None
        if sys.stderr.isatty() and total:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.task = self.bar.add_task("reading", total=total)
            self.bar.start()

    def start(self, inp, st) -> None:
        if self.bar:
            self.bar.update(self.task, description=f"reading {os.path.basename(inp.name)[:50]}")

    def done(self, inp, st) -> None:
        if self.bar:
            self.bar.advance(self.task)

    def stop(self) -> None:
        if self.bar:
            self.bar.stop()


# Options of every command that reads inputs (scan, activities)
_STRICT = click.option("--strict", is_flag=True,
                       help="Malformed or unreadable input is an error (exit 1).")
_JOBS = click.option(
    "--jobs",
    "-j",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Reader processes for the inputs: 0 = one per core when there are several large "
    "inputs, 1 = read in this process. Same results either way.",
)


def _summary(stats: list[SourceStats], warnings: list[str], extra: str) -> int:
    """Print what was read and skipped; returns the number of problems (for --strict)."""
    for w in warnings:
        _err(f"dcwatch: {w}")
    problems = len([w for w in warnings if "skipped" not in w])
    for st in stats:
        if st.fatal:
            problems += 1
            _err(
                f"dcwatch: {st.name}: {st.fatal}"
                + (f" (after {st.records} records)" if st.records else "")
            )
        if st.skipped:
            problems += 1
            _err(
                f"dcwatch: skipped {st.skipped} malformed record(s) in {st.name} "
                f"(first: {st.first_error})"
            )
    records = sum(s.records for s in stats)
    skipped = sum(s.skipped for s in stats)
    unmapped = sum(s.unmapped for s in stats)
    _err(
        f"dcwatch: read {len(stats)} input(s), {records} record(s): "
        f"{sum(s.activities for s in stats)} activities, {unmapped} record(s) of kinds dcwatch "
        f"does not use, {skipped} malformed record(s) skipped; {extra}"
    )
    return problems


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--db", help="SQLite file (or SQLAlchemy URL) to store alerts in; default: memory.")
@click.option("--honeytoken", multiple=True, help="Tag an account as a honeytoken (repeatable).")
@click.option(
    "--sensitive", multiple=True, help="Tag an account or group as sensitive (repeatable)."
)
@click.option(
    "--dc",
    "dcs",
    multiple=True,
    help="Name a domain controller the data may not reveal (repeatable).",
)
@click.option("--threshold", multiple=True, help="SLUG=high|medium|low (repeatable).")
@click.option("--test-mode", is_flag=True, help="All thresholds Low (MDI's test mode).")
@click.option("--exclude", multiple=True, help="SLUG|*:user|computer|ip|any:VALUE (repeatable).")
@click.option(
    "--tunable",
    "tunables",
    multiple=True,
    help="SLUG.TUNABLE=VALUE, e.g. adfs-dkm-key-read.service_accounts=svc_adfs "
    "(a,b for a list; repeatable).",
)
@click.option("--detector", "detectors", multiple=True, help="Run only these detector slugs.")
@_STRICT
@click.option("--no-activities", is_flag=True, help="Leave the activity log out of the output.")
@_JOBS
@click.option(
    "--notify",
    "targets",
    multiple=True,
    help="With --db: send new/updated alerts to syslog+udp|tcp|tls://HOST:PORT (CEF) or "
    "http(s):// (JSON webhook); failed deliveries stay queued (repeatable).",
)
def scan(
    paths: tuple[str, ...],
    fmt: str,
    db: str | None,
    honeytoken: tuple[str, ...],
    sensitive: tuple[str, ...],
    dcs: tuple[str, ...],
    threshold: tuple[str, ...],
    test_mode: bool,
    exclude: tuple[str, ...],
    tunables: tuple[str, ...],
    detectors: tuple[str, ...],
    strict: bool,
    no_activities: bool,
    jobs: int,
    targets: tuple[str, ...],
) -> None:
    """Scan EVTX, JSON/JSONL, pcap/pcapng, Samba audit logs, directories and archives."""
    from dcwatch.detectors import registry
    from dcwatch.detectors.base import DetectionConfig
    from dcwatch.outputs.text import write_alerts
    from dcwatch.pipeline import ActivityStream, ScanOptions
    from dcwatch.pipeline import scan as run_scan

    _check_paths(paths)
    unknown = [d for d in detectors if d not in registry()]
    if unknown:
        raise click.BadParameter(
            f"unknown detector(s): {', '.join(unknown)}", param_hint="--detector"
        )
    opts = ScanOptions(
        list(paths),
        list(dcs),
        list(honeytoken),
        list(sensitive),
        DetectionConfig(
            "forensic", _parse_thresholds(threshold), test_mode, _parse_tunables(tunables)
        ),
        _parse_exclusions(exclude),
        list(detectors) or None,
    )
    if targets and not db:
        raise click.UsageError("--notify needs --db (undelivered alerts are queued there)")
    store = None
    try:
        if db:
            from dcwatch.store import Store
            from dcwatch.store.portal import Portal

            store = Store(db)
            opts.exclusions += Portal(store).engine_exclusions()  # "close and exclude" etc.
            from dcwatch.store.directory import DirectoryStore

            opts.directory = DirectoryStore(store).load_snapshot()  # dcwatch directory sync
            opts.known_sessions = DirectoryStore(store).sessions()
        progress = None
        rows: dict[str, int] = {}

        def on_input(inp, st) -> None:
            if progress:
                progress.start(inp, st)
            if store:
                rows[st.name] = store.begin_source(inp.name)

        def on_done(inp, st) -> None:
            if progress:
                progress.done(inp, st)
            if store:
                store.finish_source(rows[st.name], st)

        stream = ActivityStream(opts.paths, on_input=on_input, on_done=on_done, jobs=jobs)
        progress = _Progress(len(stream.inputs))
        try:
            result = run_scan(opts, stream=stream)
        finally:
            progress.stop()
        alerts = result.alerts
        if store:
            reg = registry()
            before = {a.id: _fingerprint(store.get_alert(a.id)) for a in alerts} if targets \
                else {}
            ids = store.save_alerts(alerts, {s: c.update_window for s, c in reg.items()})
            if result.resolver is not None:
                store.save_entities(result.resolver.entity_rows())
            _save_directory_knowledge(store, result)
            if targets:
                _notify(store, list(targets), alerts, ids, before)
    except (ConfigError, DcwatchError) as e:
        _err(f"dcwatch: {e}")
        sys.exit(2)
    if no_activities:
        for a in alerts:
            a.activities = []
    write_alerts(alerts, fmt, sys.stdout)
    problems = _summary(
        result.stats,
        result.warnings,
        f"{len(alerts)} alert(s)"
        + (f", stored in {db}" if db else "")
        + (f"; {result.duplicates} duplicate record(s) ignored" if result.duplicates else ""),
    )
    if not result.stats and result.warnings:
        sys.exit(2)
    if strict and problems:
        sys.exit(1)


@main.command()
@click.argument("paths", nargs=-1, required=True)
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "table"]), default="jsonl", show_default=True
)
@_STRICT
@_JOBS
def activities(paths: tuple[str, ...], fmt: str, strict: bool, jobs: int) -> None:
    """Print the normalized activities dcwatch derives from the inputs (parser debugging)."""
    from dcwatch.gctune import batch_gc
    from dcwatch.outputs.text import write_activities
    from dcwatch.pipeline import ActivityStream

    _check_paths(paths)
    stream = ActivityStream(list(paths), jobs=jobs)
    try:
        with batch_gc():
            n = write_activities(iter(stream), fmt, sys.stdout)
    except DcwatchError as e:
        _err(f"dcwatch: {e}")
        sys.exit(2)
    problems = _summary(stream.stats, stream.warnings, f"{n} activities written")
    if not stream.stats and stream.warnings:
        sys.exit(2)
    if strict and problems:
        sys.exit(1)


@main.command()
@click.option("--interface", "-i", required=True, help="Interface that sees the DC's traffic.")
@click.option(
    "--db",
    default="dcwatch.db",
    show_default=True,
    help="SQLite file (or SQLAlchemy URL) the alerts go to.",
)
@click.option(
    "--filter",
    "bpf",
    default=None,
    help="Capture filter (tcpdump syntax); default: the DC protocols.",
)
@click.option("--duration", type=float, help="Stop after this many seconds.")
@click.option("--max-packets", type=int, help="Stop after this many packets.")
@click.option("--honeytoken", multiple=True, help="Tag an account as a honeytoken (repeatable).")
@click.option("--sensitive", multiple=True, help="Tag an account or group as sensitive.")
@click.option("--dc", "dcs", multiple=True, help="Name a domain controller (repeatable).")
@click.option(
    "--format",
    "fmt",
    type=FORMATS,
    default="jsonl",
    show_default=True,
    help="How new and updated alerts are printed as they happen.",
)
@click.option(
    "--processes",
    type=click.IntRange(1, 2),
    default=None,
    help="2: capture and decoding in a process of their own, the engine in this one; "
    "1: all in one process. Default: 2 when this process may use two cores or more.",
)
def sensor(
    interface: str,
    db: str,
    bpf: str | None,
    duration: float | None,
    max_packets: int | None,
    honeytoken: tuple[str, ...],
    sensitive: tuple[str, ...],
    dcs: tuple[str, ...],
    fmt: str,
    processes: int | None,
) -> None:
    """Watch live traffic on an interface (live mode: learning periods honoured)."""
    from dcwatch.detectors import registry
    from dcwatch.detectors.base import DetectionConfig
    from dcwatch.detectors.engine import Engine
    from dcwatch.entities.resolver import Resolver
    from dcwatch.outputs.text import write_alerts
    from dcwatch.sources.capture_process import can_split, capture_in_child
    from dcwatch.sources.live import DEFAULT_FILTER, capture
    from dcwatch.store import Store

    try:
        store = Store(db)
    except DcwatchError as e:
        _err(f"dcwatch: {e}")
        sys.exit(2)
    windows = {s: c.update_window for s, c in registry().items()}
    engine = Engine(Resolver(list(dcs), list(honeytoken), list(sensitive)), DetectionConfig("live"))

    def on_alert(alert, trigger: str) -> None:
        store.save_alerts([alert], windows)
        write_alerts([alert], fmt, sys.stdout)
        sys.stdout.flush()

    engine.listeners.append(on_alert)
    st = SourceStats(f"live:{interface}")
    _err(f"dcwatch: capturing on {interface}; alerts go to {db}")
    if processes is None:
        processes = 2 if can_split() else 1
    # 2: this core pays only the engine; SIGINT/SIGTERM end the capture process as --duration does
    read = capture_in_child if processes == 2 else capture
    try:
        # Live activities arrive in capture order: no re-ordering window, no added latency.
        for a in read(
            interface,
            st,
            bpf_expr=bpf or DEFAULT_FILTER,
            duration=duration,
            max_packets=max_packets,
        ):
            engine.process(a)
    except ConfigError as e:
        _err(f"dcwatch: {e}")
        sys.exit(2)
    except KeyboardInterrupt:
        pass
    engine.finish()
    _summary(
        [st],
        [],
        f"{len(engine.alerts)} alert(s); kernel drops: {st.weirds.get('capture_kernel_drops', 0)}",
    )


@main.group()
def alerts() -> None:
    """Alerts stored in a database."""


@alerts.command("list")
@click.option("--db", required=True)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.option("--status", type=click.Choice(["open", "closed", "suppressed"]))
@click.option("--phase")
@click.option("--severity", type=click.Choice(["low", "medium", "high"]))
@click.option("--limit", type=int, default=1000, show_default=True)
def alerts_list(
    db: str, fmt: str, status: str | None, phase: str | None, severity: str | None, limit: int
) -> None:
    """List alerts, newest first."""
    from dcwatch.outputs.text import write_alerts

    store = _open_store(db)
    write_alerts(store.list_alerts(status, phase, severity, limit), fmt, sys.stdout)


@alerts.command("show")
@click.argument("alert_id")
@click.option("--db", required=True)
@click.option("--format", "fmt", type=FORMATS, default="json", show_default=True)
def alerts_show(alert_id: str, db: str, fmt: str) -> None:
    """Show one alert with its evidence and activity log."""
    from dcwatch.outputs.text import write_alerts

    a = _open_store(db).get_alert(alert_id)
    if a is None:
        _err(f"dcwatch: no alert {alert_id} in {db}")
        sys.exit(2)
    write_alerts([a], fmt, sys.stdout)


def _open_store(db: str):
    from dcwatch.store import Store

    if "://" not in db and not os.path.exists(db):
        _err(f"dcwatch: {db}: no such database")
        sys.exit(2)
    try:
        return Store(db)
    except DcwatchError as e:
        _err(f"dcwatch: {e}")
        sys.exit(2)


@main.command()
@click.argument("paths", nargs=-1)
@click.option("--db", help="Correlate the alerts stored in this database instead.")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "text"]), default="text", show_default=True
)
def incidents(paths: tuple[str, ...], db: str | None, fmt: str) -> None:
    """Group alerts into incidents and tell each attack story in time order."""
    import orjson

    from dcwatch.incidents import correlate

    if db:
        alerts_ = _open_store(db).list_alerts(limit=100_000)
    elif paths:
        from dcwatch.pipeline import ScanOptions
        from dcwatch.pipeline import scan as run_scan

        _check_paths(paths)
        alerts_ = run_scan(ScanOptions(list(paths))).alerts
    else:
        raise click.UsageError("give PATH... to scan, or --db")
    for inc in sorted(correlate(alerts_), key=lambda i: i.first_seen):
        if fmt == "jsonl":
            click.echo(orjson.dumps(inc.to_dict()).decode())
            continue
        click.echo(
            f"[{inc.severity.value}] {inc.title}  ({inc.first_seen:%Y-%m-%d %H:%M} - "
            f"{inc.last_seen:%H:%M} UTC, incident {inc.id})"
        )
        for step in inc.story:
            when = step.get("time", "")[11:19]
            click.echo(f"  {when:8}  {step['phase']:<26} {step['what']}")
        click.echo("")


@main.command("detectors")
def list_detectors() -> None:
    """List the detectors: external ID, slug, phase, severity, title."""
    from dcwatch.detectors import registry

    for cls in registry().values():
        click.echo(
            f"{cls.external_id}\t{cls.slug}\t{cls.phase.value}\t{cls.severity.value}\t{cls.title}"
        )


@main.command("eval")
@click.argument("labels", nargs=-1)
def eval_cmd(labels: tuple[str, ...]) -> None:
    """Recall and precision over labelled recordings (default: ../shared/data/labels/*.csv and
    tests/data/recordings/labels.csv where present)."""
    import glob

    from dcwatch.evaluation import evaluate, render

    files = list(labels)
    if not files:
        files = sorted(glob.glob("../shared/data/labels/*.csv"))
        files += [p for p in ("tests/data/recordings/labels.csv",) if os.path.exists(p)]
    if not files:
        _err("dcwatch: no label files found")
        sys.exit(2)
    roots = {f: "tests/data/recordings" for f in files if f.endswith("recordings/labels.csv")}
    click.echo(render(evaluate(files, roots)))


def _save_directory_knowledge(store: Any, result: Any) -> None:
    """Keep what reports and lateral movement paths need: sessions seen, report activities."""
    from dcwatch.store.directory import DirectoryStore

    ds = DirectoryStore(store)
    if result.sessions is not None:
        ds.save_sessions(result.sessions.records())
    ds.save_activities(result.report_activities)


def _unused(_: Iterator[object], __: timedelta) -> None:  # keep imports honest for type checkers
    return None


main.add_command(_serve)
main.add_command(_user)
main.add_command(_center)
main.add_command(_health)
main.add_command(_ship)
main.add_command(_directory)
main.add_command(_lmp)
main.add_command(_respond)
main.add_command(_report)

if __name__ == "__main__":
    main()
