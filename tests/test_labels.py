"""Every labelled recording: the IDs dcwatch has detectors for are raised, nothing else is.

Reads ../shared/data/labels/*.csv (skipped when absent) and the project's own lab labels
(tests/data/recordings/labels.csv). Each file is scanned alone, as the labels define. Recall and
precision over all rows are printed by ``dcwatch eval`` (and kept in the README).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from tests.conftest import RECORDINGS, SHARED_DATA

from dcwatch.detectors import by_external_id
from dcwatch.evaluation import FileResult, load_labels, scan_options
from dcwatch.pipeline import scan

IMPLEMENTED = set(by_external_id())


def _rows() -> list:
    out = []
    for lf in sorted((SHARED_DATA / "labels").glob("*.csv")):
        for rel, exp, tol in load_labels(str(lf)):
            out.append(pytest.param(SHARED_DATA / rel, exp, tol, id=rel))
    lab = RECORDINGS / "labels.csv"
    if lab.exists():
        for rel, exp, tol in load_labels(str(lab)):
            out.append(pytest.param(RECORDINGS / rel, exp, tol, id=f"lab/{rel}"))
    return out


ROWS = _rows()


@pytest.mark.skipif(not ROWS, reason="no labelled recordings (../shared/data absent)")
@pytest.mark.parametrize(("path", "expected", "tolerated"), ROWS or [None])
def test_labelled_recording(path: Path, expected: set[int], tolerated: set[int] | None) -> None:
    if not path.exists():
        pytest.skip(f"{path} not present")
    res = scan(scan_options(str(path)))
    assert not any(s.fatal for s in res.stats if "truncated" not in (s.fatal or "")), \
        [s.fatal for s in res.stats]
    raised = {a.external_id for a in res.alerts}
    r = FileResult(str(path), expected, tolerated, raised)
    missing = r.misses & IMPLEMENTED
    assert not missing, f"expected {sorted(missing)} not raised; raised {sorted(raised)}"
    assert not r.false_alarms, f"false alarms {sorted(r.false_alarms)}"


def test_label_files_are_well_formed() -> None:
    files = [*sorted((SHARED_DATA / "labels").glob("*.csv")), RECORDINGS / "labels.csv"]
    files = [f for f in files if f.exists()]
    if not files:
        pytest.skip("no label files")
    for f in files:
        with open(f, newline="") as fh:
            header = next(csv.reader(fh))
        assert header[:2] == ["file", "expected_external_ids"]
