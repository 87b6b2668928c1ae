"""``sources.capture_process``: decoding in a child process gives the engine the very same
activities, in the same order, as decoding in this one, hence the same alerts.

The frames are the kill chain recording's, decoded by the same ``PacketDecoder`` the live ring
feeds (through ``read_capture``): no root or network needed. The live path end to end
(``dcwatch sensor --processes 1`` and ``2`` side by side) is in test_live_capture.py.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dcwatch.detectors.base import DetectionConfig
from dcwatch.detectors.engine import Engine
from dcwatch.errors import ConfigError
from dcwatch.model.activity import Activity
from dcwatch.sources.base import SourceStats
from dcwatch.sources.capture_process import run_in_child
from dcwatch.sources.pcap import read_capture

REPO = Path(__file__).resolve().parents[2]
PCAP = REPO / "tests" / "data" / "recordings" / "killchain" / "dc.pcap"


def _frames(st: SourceStats, stop: Callable[[], bool], on_tick: object) -> Iterator[Activity]:
    with open(PCAP, "rb") as f:
        yield from read_capture(f, "live:test", st)


def _run(acts: Iterator[Activity]) -> tuple[list[dict], list[dict], list[tuple[str, str]]]:
    engine = Engine(config=DetectionConfig("live"))
    triggers: list[tuple[str, str]] = []
    engine.listeners.append(lambda alert, trigger: triggers.append((alert.id, trigger)))
    seen = []
    for a in acts:
        seen.append(a.to_dict())
        engine.process(a)
    alerts = [al.to_dict() for al in engine.finish()]
    return seen, alerts, triggers


def test_same_activities_and_alerts_in_a_child_process() -> None:
    st1, st2 = SourceStats("live:test"), SourceStats("live:test")
    one = _run(_frames(st1, lambda: False, None))
    two = _run(run_in_child(_frames, st2))
    assert len(one[0]) > 100
    assert one[1], "the kill chain raises alerts"
    assert one == two  # activities (uids included), alerts and each open/update, in order
    assert st2.records == st1.records > 0
    assert st2.activities == st1.activities


def test_config_error_in_the_child_is_raised_here() -> None:
    def refuse(st: SourceStats, stop: object, on_tick: object) -> Iterator[Activity]:
        raise ConfigError("live capture needs root or CAP_NET_RAW")
        yield

    with pytest.raises(ConfigError, match="needs root or CAP_NET_RAW"):
        list(run_in_child(refuse, SourceStats("live:test")))


def test_sigterm_ends_the_child_cleanly_with_what_it_decoded() -> None:
    def endless(st: SourceStats, stop: Callable[[], bool],
                on_tick: object) -> Iterator[Activity]:
        with open(PCAP, "rb") as f:
            acts = list(read_capture(f, "live:test", st))
        yield from acts[:10]
        while not stop():  # as the capture loop: stop() at every wake-up
            time.sleep(0.01)
        yield from acts[10:20]  # what the decoder's finish() would still hand on

    st = SourceStats("live:test")
    got = []
    for a in run_in_child(endless, st):
        got.append(a)
        if len(got) == 10:  # after the first batch (FLUSH_S old): as a service manager would
            os.kill(os.getpid(), signal.SIGTERM)
    assert len(got) == 20
    assert st.records > 0
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_consumer_stopping_early_ends_the_child() -> None:
    def endless(st: SourceStats, stop: Callable[[], bool],
                on_tick: object) -> Iterator[Activity]:
        with open(PCAP, "rb") as f:
            acts = list(read_capture(f, "live:test", st))
        while not stop():
            yield from acts

    it = run_in_child(endless, SourceStats("live:test"))
    for n, _ in enumerate(it):
        if n == 1000:
            break
    start = time.monotonic()
    it.close()  # type: ignore[attr-defined]
    assert time.monotonic() - start < 3
    assert not multiprocessing.active_children()


def test_a_child_blocked_on_a_full_pipe_ends_when_its_reader_goes() -> None:
    # A producer that never looks at stop(): the child fills the pipe and blocks on send. Once
    # this side closes its end the send must fail (the child must not hold the reading end
    # it inherited from the fork), or the child would stay blocked for ever, SIGTERM or not:
    # a capture process orphaned when its sensor stops or is killed.
    def deaf(st: SourceStats, stop: Callable[[], bool],
             on_tick: object) -> Iterator[Activity]:
        with open(PCAP, "rb") as f:
            acts = list(read_capture(f, "live:test", st))
        while True:
            yield from acts

    it = run_in_child(deaf, SourceStats("live:test"))
    for n, _ in enumerate(it):
        if n == 10:
            break
    time.sleep(0.5)  # the child fills the pipe
    start = time.monotonic()
    it.close()  # type: ignore[attr-defined]
    assert time.monotonic() - start < 3
    assert not multiprocessing.active_children()
