"""Incidents: alerts sharing an attacker-side entity in time become one story."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.helpers import T0

from dcwatch.incidents import correlate
from dcwatch.model.alert import Alert, EntityRef, Phase, Severity, Status
from dcwatch.pipeline import ScanOptions, scan

DEMO = Path(__file__).resolve().parent / "data" / "demo" / "killchain.jsonl"


def alert(i: int, minutes: float, entities: list[EntityRef],
          phase: Phase = Phase.RECONNAISSANCE) -> Alert:
    t = T0 + timedelta(minutes=minutes)
    return Alert(id=f"a{i}", type="x", external_id=2000 + i, title=f"t{i}", description=f"d{i}",
                 severity=Severity.MEDIUM, phase=phase, status=Status.OPEN, first_seen=t,
                 last_seen=t, key=str(i), entities=entities)


def test_shared_source_computer_links_alerts() -> None:
    ws1 = EntityRef("computer", "WS1", "source computer")
    dc = EntityRef("computer", "DC01", "domain controller")
    incs = correlate([
        alert(1, 0, [ws1, dc]),
        alert(2, 10, [EntityRef("user", "CONTOSO\\bob", "attacker"), ws1, dc],
              Phase.LATERAL_MOVEMENT),
        alert(3, 20, [EntityRef("user", "CONTOSO.LOCAL\\bob", "attacker"), dc],
              Phase.PERSISTENCE),
        alert(4, 30, [EntityRef("computer", "WS9", "source computer"), dc]),  # unrelated
    ])
    sizes = sorted(len(i.alerts) for i in incs)
    assert sizes == [1, 3]
    big = next(i for i in incs if len(i.alerts) == 3)
    assert [s["phase"] for s in big.story][1:] == ["Reconnaissance", "Lateral movement",
                                                  "Domain dominance"]
    assert "WS1" in big.title
    assert "DC01" in big.title


def test_time_window_splits() -> None:
    ws1 = EntityRef("computer", "WS1", "source computer")
    incs = correlate([alert(1, 0, [ws1]), alert(2, 60 * 24 * 5, [ws1])])
    assert len(incs) == 2


def test_demo_kill_chain_is_one_incident() -> None:
    alerts = scan(ScanOptions([str(DEMO)])).alerts
    incs = correlate(alerts)
    main = max(incs, key=lambda i: len(i.alerts))
    assert {a.external_id for a in main.alerts} >= {2006, 2024, 2026}
    assert main.story[0]["phase"] == "Summary"
    assert "WS01" in main.story[0]["what"]
    d = main.to_dict()
    assert d["alert_ids"] == [a.id for a in main.alerts]
