"""The seed kill chain (tests/data/recordings/killchain, see its README.md), scanned as a folder:
SMB session enumeration (2012) -> overpass-the-hash (2008/2002) -> pass-the-ticket (2018) ->
remote code execution on the DC (2019) -> domain dominance (2006 DCSync, golden ticket 2032),
in time order, each naming the right attacker, victim and computers.

Who is who: WS1 = 10.77.0.21 (attacker's foothold, alice logged on there), WS2 = 10.77.0.22
(da.admin's workstation; nothing in the data names it, so alerts show its IP), DC01 =
10.77.0.10; hd.admin's NT hash is used for overpass-the-hash, da.admin's TGT is stolen from WS2,
Administrator is the golden ticket's impersonated account.
"""

from __future__ import annotations

import pytest
from tests.conftest import RECORDINGS

from dcwatch.model.alert import Alert
from dcwatch.pipeline import ScanOptions, scan

KILLCHAIN = RECORDINGS / "killchain"


@pytest.fixture(scope="module")
def alerts() -> list[Alert]:
    if not (KILLCHAIN / "dc.pcap").exists():
        pytest.skip("killchain recording not present")
    return scan(ScanOptions([str(KILLCHAIN)])).alerts


def first(alerts: list[Alert], *ids: int) -> Alert:
    found = [a for a in alerts if a.external_id in ids]
    assert found, f"no alert {ids} in {[a.external_id for a in alerts]}"
    return min(found, key=lambda a: a.first_seen)


def names(a: Alert, role: str | None = None) -> set[str]:
    return {e.name.rsplit("\\", 1)[-1] for e in a.entities if role is None or e.role == role}


def test_visible_steps_in_order_with_the_right_entities(alerts: list[Alert]) -> None:
    opth = first(alerts, 2008)
    ptt = first(alerts, 2018)
    dcsync = first(alerts, 2006)
    golden = first(alerts, 2032)
    assert opth.first_seen < ptt.first_seen < dcsync.first_seen < golden.first_seen

    assert "hd.admin" in names(opth, "compromised account")
    assert "WS1" in names(opth, "source computer")
    assert "DC01" in names(opth)

    assert "da.admin" in names(ptt, "victim")
    assert "WS1" in names(ptt, "source computer")
    assert ptt.evidence["issued_to_ip"] == "10.77.0.22"  # WS2
    assert any("cifs/dc01" in r for r in ptt.evidence["accessed_resources"])

    assert "da.admin" in names(dcsync, "attacker")
    assert "WS1" in names(dcsync)
    assert "Administrator" in names(golden, "impersonated account")
    assert "WS1" in names(golden, "source computer")
    assert "DC01" in names(golden)


def test_full_story_order(alerts: list[Alert]) -> None:
    story = [first(alerts, 2012), first(alerts, 2008, 2002), first(alerts, 2018),
             first(alerts, 2019), first(alerts, 2006), first(alerts, 2032)]
    times = [a.first_seen for a in story]
    assert times == sorted(times)
    assert "alice" in names(story[0], "attacker")
    assert "WS1" in names(story[0])
    assert "da.admin" in names(story[3])
    assert "DC01" in names(story[3])
