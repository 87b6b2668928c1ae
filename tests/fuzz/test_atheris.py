"""Each atheris target (tests/fuzz/atheris_fuzz.py) runs briefly from the recordings' seeds: no
exception escapes a decoder and none is caught as an accident. Longer campaigns: ``make fuzz``.
Skipped where atheris does not install (it needs a libFuzzer-capable CPython build)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).with_name("atheris_fuzz.py")
SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("atheris") is None,
                       reason="atheris is not installed (pip install -e '.[dev]' on x86_64)"),
]


@pytest.mark.parametrize(("target", "runs", "max_len"), [
    ("packets", 3000, 65536),
    ("capture", 600, 32768),
    ("decoders", 20000, 4096),
    ("events", 5000, 16384),
    ("evtx", 300, 69632),
])
def test_target_survives(target: str, runs: int, max_len: int, tmp_path: Path) -> None:
    if target == "evtx" and not (SHARED / "evtx-attack-samples").is_dir():
        pytest.skip("EVTX seeds come from ../shared/data, absent here")
    r = subprocess.run([sys.executable, str(HARNESS), target, f"-runs={runs}",
                        f"-max_len={max_len}", "-max_total_time=60", "-seed=1",
                        str(tmp_path / "corpus")],
                       capture_output=True, text=True, timeout=300)
    tail = (r.stdout + r.stderr)[-3000:]
    assert r.returncode == 0, tail
    assert "DONE" in r.stderr, tail
