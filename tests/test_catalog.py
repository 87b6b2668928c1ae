"""Detectors agree with the alert catalog (../shared/spec/alerts.csv)."""

from __future__ import annotations

import csv

import pytest
from tests.conftest import REPO

from dcwatch.detectors import registry

SPEC = REPO.parent / "shared" / "spec" / "alerts.csv"


def test_detectors_match_catalog() -> None:
    if not SPEC.exists():
        pytest.skip("alert catalog not present")
    with open(SPEC, newline="", encoding="utf-8") as f:
        rows = {int(r["external_id"]): r for r in csv.DictReader(f)}
    for slug, cls in registry().items():
        row = rows.get(cls.external_id)
        assert row is not None, f"{slug}: external ID {cls.external_id} not in the catalog"
        assert row["slug"] == slug
        assert row["name"] == cls.title
        assert row["phase"] == cls.phase.value
        assert row["severity"] == cls.severity.value or row["severity"] == "variable"
        spec_mitre = {m for m in row["mitre"].split(";") if m}
        assert set(cls.mitre) <= spec_mitre | {m for m in spec_mitre}


def test_readme_alert_table_is_current() -> None:
    readme = (REPO / "README.md").read_text()
    for cls in registry().values():
        assert f"| {cls.external_id} | `{cls.slug}` |" in readme, \
            f"README alert table lacks {cls.external_id} {cls.slug}: run `make docs`"
