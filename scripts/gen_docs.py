"""Regenerate the README tables from the code: the alert catalog and the evaluation.

``make docs`` runs it; tests/test_catalog.py fails when the alert table is stale.
Sections live between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` markers.
"""

from __future__ import annotations

import csv
import glob
import os
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPEC = REPO.parent / "shared" / "spec" / "alerts.csv"


def replace(text: str, name: str, body: str) -> str:
    pat = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pat.search(text):
        sys.exit(f"README has no {name} markers")
    return pat.sub(lambda m: m.group(1) + body.rstrip() + "\n" + m.group(2), text)


def alert_table() -> str:
    from dcwatch.detectors import registry

    sources = {}
    if SPEC.exists():
        with open(SPEC, newline="", encoding="utf-8") as f:
            sources = {int(r["external_id"]): r["sources"].replace(";", ", ")
                       for r in csv.DictReader(f)}
    lines = ["| ID | slug | title | phase | severity | spec sources |",
             "|---|---|---|---|---|---|"]
    for cls in registry().values():
        lines.append(f"| {cls.external_id} | `{cls.slug}` | {cls.title} | {cls.phase.value} | "
                     f"{cls.severity.value} | {sources.get(cls.external_id, '')} |")
    return "\n".join(lines)


def eval_table() -> str:
    from dcwatch.evaluation import evaluate, render

    os.chdir(REPO)
    files = sorted(glob.glob("../shared/data/labels/*.csv"))
    lab = "tests/data/recordings/labels.csv"
    roots = {}
    if os.path.exists(lab):
        files.append(lab)
        roots[lab] = "tests/data/recordings"
    if not files:
        return "(../shared/data not present when the docs were generated)"
    return render(evaluate(files, roots))


def main() -> None:
    readme = REPO / "README.md"
    text = readme.read_text()
    text = replace(text, "alerts", alert_table())
    if "--no-eval" not in sys.argv:
        text = replace(text, "eval", eval_table())
    readme.write_text(text)


if __name__ == "__main__":
    main()
