"""Shared fixtures: the labelled recordings in ../shared/data (skipped when absent)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
RECORDINGS = REPO / "tests" / "data" / "recordings"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data``; tests using it skip cleanly when it is absent."""
    if not (SHARED_DATA / "labels").is_dir():
        pytest.skip(f"shared data not present at {SHARED_DATA}")
    return SHARED_DATA


def shared_file(rel: str) -> Path:
    """A file under ../shared/data, or skip."""
    p = SHARED_DATA / rel
    if not p.exists():
        pytest.skip(f"shared data file not present: {rel}")
    return p
