"""Malformed event input never escapes as an exception: it is counted and reported."""

from __future__ import annotations

import io
import json
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import SHARED_DATA

from dcwatch.sources.base import SourceStats
from dcwatch.sources.evtx import read_evtx
from dcwatch.sources.jsonl import read_json

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "killchain.jsonl"
LINES = DEMO.read_bytes().splitlines()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10),
                                                                       children, max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_random_bytes_as_json_lines(lines: list[bytes]) -> None:
    stats = SourceStats("fuzz")
    list(read_json(lines, "fuzz", stats))
    assert stats.records >= stats.skipped


@settings(max_examples=300, deadline=None)
@given(st.integers(0, len(LINES) - 1), st.data())
def test_mutated_real_records(i: int, data: st.DataObject) -> None:
    obj = json.loads(LINES[i])
    ev = obj["Event"]
    where = data.draw(st.sampled_from(["System", "EventData"]))
    key = data.draw(st.sampled_from(sorted(ev[where])))
    ev[where][key] = data.draw(json_values)
    stats = SourceStats("fuzz")
    acts = list(read_json([json.dumps(obj).encode()], "fuzz", stats))
    assert len(acts) + stats.skipped + stats.unmapped == 1


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_truncated_and_mutated_evtx(data: st.DataObject) -> None:
    files = sorted((SHARED_DATA / "evtx-attack-samples").rglob("*.evtx"))
    if not files:
        raw = b"ElfFile\x00" + bytes(4088)
    else:
        raw = data.draw(st.sampled_from(files[:20])).read_bytes()
    cut = data.draw(st.integers(0, len(raw)))
    blob = bytearray(raw[:cut])
    for _ in range(data.draw(st.integers(0, 20))):
        if blob:
            pos = data.draw(st.integers(0, len(blob) - 1))
            blob[pos] = data.draw(st.integers(0, 255))
    stats = SourceStats("fuzz.evtx")
    acts = list(read_evtx(io.BytesIO(bytes(blob)), "fuzz.evtx", stats, threads=1))
    assert stats.activities == len(acts)
    assert stats.fatal is not None or stats.records >= 0
