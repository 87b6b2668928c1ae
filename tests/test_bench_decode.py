"""bench/decode_instructions.py feeds a capture as the live ring does: one pass must decode what
the file reader decodes from the same capture (else its instruction counts measure something
else), and more passes must keep decoding (the same flows seen again)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from dcwatch.sources.base import SourceStats
from dcwatch.sources.pcap import read_capture

BENCH = Path(__file__).resolve().parents[1] / "bench" / "decode_instructions.py"


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("decode_instructions", BENCH)
    assert spec
    assert spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_one_pass_decodes_what_the_file_reader_decodes() -> None:
    bench = _bench()
    with open(bench.PCAP, "rb") as f:
        acts = list(read_capture(f, "kc", SourceStats("kc")))
    packets, n = bench.run(str(bench.PCAP), 1, 50_000.0, engine=False)
    assert packets > 500
    assert n == len(acts) > 100


def test_later_passes_decode_as_much_and_the_engine_runs() -> None:
    bench = _bench()
    _, one = bench.run(str(bench.PCAP), 1, 50_000.0, engine=False)
    packets, three = bench.run(str(bench.PCAP), 3, 50_000.0, engine=True)
    assert three == 3 * one
    assert packets > 1500
