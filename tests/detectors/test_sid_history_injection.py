"""1106 Suspected SID-History injection."""

from __future__ import annotations

from tests.detectors.conftest import ADMIN, act, run, scan_alerts, shared

from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "sid-history-injection"


def test_fires_on_4765_with_domain_admins_sid() -> None:
    p = shared("evtx-attack-samples/Privilege_Escalation/4765_sidhistory_add_t1178.evtx")
    alerts = [a for a in scan_alerts(p) if a.external_id == 1106]
    assert len(alerts) == 1
    a = alerts[0]
    assert a.severity == "high"
    # the DNS domain is shown as its NetBIOS name
    assert a.evidence["sids_added"][0]["resolves_to"] == "MAINCORP\\Domain Admins"
    assert "to MAINCORP\\Andrei" in a.description


def test_4738_sid_history_and_medium_for_ordinary_sid() -> None:
    bob = Account("bob", "CORP", "S-1-5-21-1-2-3-1111")
    acts = [act(K.ACCOUNT_CHANGED, 0, actor=ADMIN, target=bob,
                fields={"sid_history": "%{S-1-5-21-9-9-9-1300}"})]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert alerts[0].severity == "medium"


def test_4738_without_sid_history_is_quiet_and_4765_plus_4738_is_one_alert() -> None:
    bob = Account("bob", "CORP", "S-1-5-21-1-2-3-1111")
    assert run([act(K.ACCOUNT_CHANGED, 0, actor=ADMIN, target=bob, fields={})], SLUG) == []
    acts = [act(K.SID_HISTORY_ADDED, 0, actor=ADMIN, target=bob, outcome="success",
                fields={"source_sid": "S-1-5-21-1-2-3-519"}),
            act(K.ACCOUNT_CHANGED, 0.01, actor=ADMIN, target=bob,
                fields={"sid_history": "%{S-1-5-21-1-2-3-519}"})]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert alerts[0].count == 2
    assert alerts[0].evidence["sids_added"][0]["resolves_to"] == "Enterprise Admins"
