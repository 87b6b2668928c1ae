"""``dcwatch eval``: recall and precision over labelled recordings (labels/*.csv).

Scoring (../shared/data/README.md): per file, hits = expected IDs raised, misses = expected IDs
not raised, false alarms = distinct raised IDs neither expected nor tolerated (``*`` tolerates
any). Each file is scanned alone. Totals are given over all IDs and over the IDs that have a
detector, so progress through the catalog stays visible.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from dataclasses import dataclass, field

from dcwatch.detectors import by_external_id
from dcwatch.pipeline import ScanOptions, scan


@dataclass(slots=True)
class FileResult:
    file: str
    expected: set[int]
    tolerated: set[int] | None  # None = any
    raised: set[int]
    error: str | None = None

    @property
    def hits(self) -> set[int]:
        return self.expected & self.raised

    @property
    def misses(self) -> set[int]:
        return self.expected - self.raised

    @property
    def false_alarms(self) -> set[int]:
        if self.tolerated is None:
            return set()
        return self.raised - self.expected - self.tolerated


@dataclass(slots=True)
class Report:
    files: list[FileResult] = field(default_factory=list)

    def per_type(self, only: set[int] | None = None) -> dict[int, tuple[int, int, int]]:
        """external id -> (hits, misses, false alarms)."""
        out: dict[int, list[int]] = defaultdict(lambda: [0, 0, 0])
        for f in self.files:
            for i in f.hits:
                out[i][0] += 1
            for i in f.misses:
                out[i][1] += 1
            for i in f.false_alarms:
                out[i][2] += 1
        return {k: (v[0], v[1], v[2]) for k, v in sorted(out.items())
                if only is None or k in only}

    def totals(self, only: set[int] | None = None) -> tuple[float, float, int, int, int]:
        """(recall, precision, hits, misses, false alarms)."""
        pt = self.per_type(only)
        h = sum(v[0] for v in pt.values())
        m = sum(v[1] for v in pt.values())
        fa = sum(v[2] for v in pt.values())
        recall = h / (h + m) if h + m else 1.0
        precision = h / (h + fa) if h + fa else 1.0
        return recall, precision, h, m, fa


def _ids(text: str) -> set[int]:
    return {int(x) for x in text.replace(",", ";").split(";") if x.strip().isdigit()}


def load_labels(path: str) -> list[tuple[str, set[int], set[int] | None]]:
    """Rows of a labels CSV: (file relative to the CSV's data root, expected, tolerated)."""
    rows = []
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            tol_text = (r.get("tolerated_external_ids") or "").strip()
            tol = None if tol_text == "*" else _ids(tol_text)
            rows.append((r["file"], _ids(r.get("expected_external_ids") or ""), tol))
    return rows


def scan_options(path: str) -> ScanOptions:
    """Scan options of a labelled recording: its own ``scan-options.toml`` beside it, if any.

    Lab recordings that depend on operator configuration (a honeytoken account, a sensitive
    tag, a DC list, a detector's tunable) say so there, e.g. ``honeytokens = ["backup.admin"]``
    or ``[tunables.adfs-dkm-key-read]`` ``service_accounts = ["svc_adfs"]``."""
    import tomllib

    opts = ScanOptions([path])
    side = os.path.join(os.path.dirname(path), "scan-options.toml")
    if os.path.exists(side):
        with open(side, "rb") as f:
            cfg = tomllib.load(f)
        opts.honeytokens = list(cfg.get("honeytokens", []))
        opts.sensitive = list(cfg.get("sensitive", []))
        opts.dcs = list(cfg.get("dcs", []))
        opts.config.tunables = {slug: dict(v) for slug, v in cfg.get("tunables", {}).items()}
    return opts


def evaluate(label_files: list[str], root_for: dict[str, str] | None = None) -> Report:
    """Scan every labelled recording alone and score it."""
    report = Report()
    for lf in label_files:
        root = (root_for or {}).get(lf) or os.path.dirname(os.path.dirname(os.path.abspath(lf)))
        for rel, expected, tolerated in load_labels(lf):
            path = os.path.join(root, rel)
            if not os.path.exists(path):
                report.files.append(FileResult(rel, expected, tolerated, set(), "missing"))
                continue
            res = scan(scan_options(path))
            raised = {a.external_id for a in res.alerts}
            err = next((s.fatal for s in res.stats if s.fatal), None)
            report.files.append(FileResult(rel, expected, tolerated, raised, err))
    return report


def render(report: Report) -> str:
    """The table the README keeps current."""
    implemented = set(by_external_id())
    names = {i: c.slug for i, c in by_external_id().items()}
    lines = ["| ID | detector | hits | misses | false alarms | recall | precision |",
             "|---|---|---|---|---|---|---|"]
    for i, (h, m, fa) in report.per_type().items():
        rec = f"{h / (h + m):.0%}" if h + m else "-"
        prec = f"{h / (h + fa):.0%}" if h + fa else "-"
        lines.append(f"| {i} | {names.get(i, '(not implemented yet)')} | {h} | {m} | {fa} | "
                     f"{rec} | {prec} |")
    r, p, h, m, fa = report.totals()
    ri, pi, hi, mi, fai = report.totals(implemented)
    lines.append("")
    lines.append(f"All labelled IDs: recall {r:.1%} ({h}/{h + m}), precision {p:.1%} "
                 f"({fa} false alarm(s)) over {len(report.files)} files.")
    lines.append(f"IDs with a detector ({len(implemented)}): recall {ri:.1%} ({hi}/{hi + mi}), "
                 f"precision {pi:.1%} ({fai} false alarm(s)).")
    bad = [f for f in report.files if f.false_alarms or (f.misses & implemented)]
    for f in bad:
        lines.append(f"- {f.file}: missed {sorted(f.misses & implemented)} "
                     f"false alarms {sorted(f.false_alarms)}")
    return "\n".join(lines)
