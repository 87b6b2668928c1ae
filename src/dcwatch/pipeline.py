"""The one module that imports every stage: sources -> activities -> engine -> store/outputs."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from dcwatch.detectors.base import DetectionConfig
from dcwatch.detectors.engine import Engine, Exclusion
from dcwatch.entities.directory import Snapshot, apply_to_resolver
from dcwatch.entities.lmp import LateralMovement, SessionTracker, enrich_alerts
from dcwatch.entities.resolver import Resolver
from dcwatch.gctune import batch_gc
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import Alert
from dcwatch.sources.base import SourceStats
from dcwatch.sources.files import Input, expand, merge, read_input, reorder
from dcwatch.sources.parallel import auto_jobs, read_parallel

Progress = Callable[[int, int, str], None]  # (inputs done, inputs total, current name)


@dataclass(slots=True)
class ScanOptions:
    """What ``dcwatch scan`` was asked to do."""

    paths: list[str]
    dcs: list[str] = field(default_factory=list)
    honeytokens: list[str] = field(default_factory=list)
    sensitive: list[str] = field(default_factory=list)
    config: DetectionConfig = field(default_factory=DetectionConfig)
    exclusions: list[Exclusion] = field(default_factory=list)
    slugs: list[str] | None = None
    evtx_threads: int = 0
    jobs: int = 0  # reader processes: 0 = decide from the inputs and the machine, 1 = none
    # Directory knowledge (dcwatch directory sync/import): feeds the resolver and the lateral
    # movement paths; sessions learned by earlier scans (the store's lmp_sessions)
    directory: Snapshot | None = None
    known_sessions: list[tuple[str, str, datetime, str]] = field(default_factory=list)


@dataclass(slots=True)
class ScanResult:
    """What a scan produced."""

    alerts: list[Alert]
    stats: list[SourceStats]
    warnings: list[str]
    activities: int
    duplicates: int
    resolver: Resolver | None = None
    sessions: SessionTracker | None = None  # who logged on where (lateral movement paths)
    lateral: LateralMovement | None = None
    report_activities: list[Activity] = field(default_factory=list)  # kept for the reports


class ActivityStream:
    """All inputs' activities as one time-ordered, de-duplicated stream, with bookkeeping."""

    def __init__(self, paths: list[str], evtx_threads: int = 0,
                 on_input: Callable[[Input, SourceStats], None] | None = None,
                 on_done: Callable[[Input, SourceStats], None] | None = None,
                 jobs: int = 0) -> None:
        self.warnings: list[str] = []
        self.inputs = list(expand(paths, self.warnings.append))
        self.stats: list[SourceStats] = []
        self.duplicates = 0
        self._threads = evtx_threads if len(self.inputs) == 1 else (evtx_threads or 1)
        self._on_input = on_input
        self._on_done = on_done
        # Several large inputs are read by worker processes (same activities, same order)
        self.jobs = jobs if jobs > 0 else auto_jobs(self.inputs)

    def _one(self, inp: Input) -> Iterator[Activity]:
        st = SourceStats(inp.name)
        self.stats.append(st)
        if self._on_input:
            self._on_input(inp, st)
        yield from reorder(read_input(inp, st, self._threads))
        if self._on_done:
            self._on_done(inp, st)

    def __iter__(self) -> Iterator[Activity]:
        if self.jobs > 1:
            return self._dedup(self._parallel())
        merged = merge([self._one(i) for i in self.inputs])
        return self._dedup(merged)

    def _parallel(self) -> Iterator[Activity]:
        stats = [SourceStats(i.name) for i in self.inputs]
        self.stats.extend(stats)
        if self._on_input:
            for i, st in zip(self.inputs, stats, strict=True):
                self._on_input(i, st)

        def done(n: int) -> None:
            if self._on_done:
                self._on_done(self.inputs[n], stats[n])

        yield from read_parallel(self.inputs, stats, self.jobs, done, self._threads)

    def _dedup(self, acts: Iterator[Activity], span: timedelta = timedelta(minutes=10),
               cap: int = 500_000) -> Iterator[Activity]:
        # The same record read twice (an EVTX and its JSON export, two captures of one run)
        # has the same uid and time: remember recent uids only (bounded memory).
        recent: deque[tuple[object, str]] = deque()
        seen: set[str] = set()
        remember, forget = seen.add, seen.discard
        append, popleft = recent.append, recent.popleft
        for a in acts:
            uid = a.uid
            if uid in seen:
                self.duplicates += 1
                continue
            remember(uid)
            ts = a.ts
            append((ts, uid))
            cutoff = ts - span
            while recent and (recent[0][0] < cutoff or len(recent) > cap):  # type: ignore[operator]
                forget(popleft()[1])
            yield a


def scan(opts: ScanOptions, on_alert: Callable[[Alert, str], None] | None = None,
         stream: ActivityStream | None = None) -> ScanResult:
    """Run the detectors over every input; returns the alerts and per-input statistics.

    With a directory snapshot, the resolver knows DCs, SIDs and sensitive accounts up front, and
    credential-theft alerts get the lateral movement paths their accounts are on (evidence
    ``lateral_movement_paths``), computed after the scan from the sessions it saw."""
    resolver = Resolver(opts.dcs, opts.honeytokens, opts.sensitive)
    if opts.directory is not None:
        apply_to_resolver(resolver, opts.directory, opts.honeytokens)
        resolver.lmp = LateralMovement(opts.directory, opts.known_sessions)
    engine = Engine(resolver, opts.config, opts.slugs, opts.exclusions)
    if on_alert:
        engine.listeners.append(on_alert)
    stream = stream or ActivityStream(opts.paths, opts.evtx_threads, jobs=opts.jobs)
    tracker = SessionTracker(resolver)
    kept: list[Activity] = []

    def tap(acts: Iterable[Activity]) -> Iterator[Activity]:
        for a in acts:
            tracker.observe(a)
            if report_relevant(a, resolver) and len(kept) < 200_000:
                kept.append(a)
            yield a

    with batch_gc():
        alerts = engine.run(tap(stream))
    lateral = None
    if opts.directory is not None:
        lateral = LateralMovement(opts.directory, opts.known_sessions + tracker.records(),
                                  tracker.local_admins, now=tracker.latest)
        resolver.lmp = lateral
        enrich_alerts(alerts, lateral)
    return ScanResult(alerts, stream.stats, stream.warnings, engine.activities,
                      stream.duplicates, resolver, tracker, lateral, kept)


def report_relevant(a: Activity, resolver: Resolver) -> bool:
    """Activities the reports need that no alert may keep: LDAP simple binds that sent a
    password in clear, and membership changes of sensitive groups."""
    if a.kind is ActivityKind.LDAP_BIND:
        return bool(a.fields.get("cleartext_password"))
    if a.kind in (ActivityKind.GROUP_MEMBER_ADDED, ActivityKind.GROUP_MEMBER_REMOVED):
        return resolver.sensitive_group(a.target) is not None or \
            resolver.sensitive_group(resolver.group_for_dn(a.fields.get("group_dn"))) is not None
    if a.kind is ActivityKind.DS_MODIFY and "member" in (a.fields.get("attributes") or ()):
        return resolver.sensitive_group(resolver.group_for_dn(
            a.fields.get("dn") or (a.target.name if a.target else None))) is not None
    return False
