"""2021 User and Group membership reconnaissance (SAMR): recordings and synthetic cases."""

from __future__ import annotations

import pytest
from tests.detectors.conftest import USER, act, ids, run, scan_alerts, shared, wire_rpc

from dcwatch.detectors.base import DetectionConfig
from dcwatch.detectors.engine import Exclusion
from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "samr-reconnaissance"
DA_SID = "S-1-5-21-1-2-3-512"


def test_fires_on_4661_domain_admins_by_a_user() -> None:
    p = shared("evtx-attack-samples/Discovery/dicovery_4661_net_group_domain_admins_target.evtx")
    alerts = [a for a in scan_alerts(p) if a.external_id == 2021]
    assert len(alerts) == 1
    assert "EXAMPLE\\user01 succeeded to query Domain Admins." in alerts[0].description
    assert alerts[0].evidence["source_ip"] == "10.0.2.17"


@pytest.mark.parametrize("rel", [
    "evtx-attack-samples/Privilege_Escalation/4765_sidhistory_add_t1178.evtx",
    "evtx-attack-samples/Lateral_Movement/LM_ScheduledTask_ATSVC_target_host.evtx",
    "evtx-attack-samples/Discovery/discovery_local_user_or_group_windows_security_4799_4798.evtx",
])
def test_quiet_on_background_sam_access(rel: str) -> None:
    assert 2021 not in ids(scan_alerts(shared(rel)))


def _4661(ts: float, actor: Account, sid: str = DA_SID, otype: str = "SAM_GROUP",
          lid: str = "0x55"):
    return act(K.SAM_ACCESS, ts, actor=actor, fields={
        "object_server": "Security Account Manager", "object_type": otype,
        "object_name": sid, "logon_id": lid})


def _logon(ts: float, actor: Account, logon_type: int = 3, lid: str = "0x55"):
    return act(K.LOGON, ts, actor=actor, src_ip="10.0.0.21", src_host="WS1",
               fields={"logon_type": logon_type, "logon_id": lid})


def test_machine_account_querying_domain_admins_is_quiet() -> None:
    pc = Account("WS1$", "CORP")
    assert run([_logon(0, pc), _4661(1, pc)], SLUG) == []


def test_interactive_session_on_the_dc_is_quiet() -> None:
    assert run([_logon(0, USER, logon_type=2), _4661(1, USER)], SLUG) == []


def test_non_sensitive_group_is_quiet() -> None:
    assert run([_logon(0, USER), _4661(1, USER, sid="S-1-5-21-1-2-3-1200")], SLUG) == []


def test_builtin_administrators_alias_by_sid() -> None:
    alerts = run([_logon(0, USER), _4661(1, USER, sid="S-1-5-32-544", otype="SAM_ALIAS")], SLUG)
    assert len(alerts) == 1
    assert "Administrators" in alerts[0].description


def test_wire_enumeration_and_sensitive_queries_update_one_alert() -> None:
    acts = [wire_rpc("samr", "SamrEnumerateUsersInDomain", 1, actor=USER),
            wire_rpc("samr", "SamrOpenGroup", 2, {"rid": 512}, actor=USER),
            wire_rpc("samr", "SamrGetMembersInAlias", 3, {"handle_of": "rid:544"}, actor=USER),
            wire_rpc("samr", "SamrLookupDomainInSamServer", 4, actor=USER)]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.count == 3
    assert "succeeded to enumerate all users." in a.description
    assert "succeeded to query Domain Admins." in a.description
    assert "succeeded to query Administrators." in a.description


def test_wire_by_opnum_only() -> None:
    a = wire_rpc("samr", "", 1, actor=USER)
    a.fields["opnum"] = 13
    assert len(run([a], SLUG)) == 1


def test_wire_machine_account_is_quiet() -> None:
    acts = [wire_rpc("samr", "SamrOpenGroup", 2, {"rid": 512}, actor=Account("WS1$", "CORP"))]
    assert run(acts, SLUG) == []


def test_wire_to_a_non_dc_is_quiet() -> None:
    acts = [wire_rpc("samr", "SamrEnumerateUsersInDomain", 1, actor=USER, dst="10.0.0.99")]
    assert run(acts, SLUG) == []


def test_learning_period_in_live_mode_then_new_query_alerts() -> None:
    live = DetectionConfig(mode="live")
    learned = wire_rpc("samr", "SamrEnumerateUsersInDomain", 0, actor=USER)
    again = wire_rpc("samr", "SamrEnumerateUsersInDomain", 30 * 86400, actor=USER)
    new = wire_rpc("samr", "SamrOpenGroup", 30 * 86400 + 1, {"rid": 519}, actor=USER)
    assert run([learned, again], SLUG, config=live) == []
    alerts = run([learned, again, new], SLUG, config=live)
    assert len(alerts) == 1
    assert "Enterprise Admins" in alerts[0].description
    # threshold Medium: immediate, learning ignored
    medium = DetectionConfig(mode="live", thresholds={SLUG: "medium"})
    assert len(run([learned], SLUG, config=medium)) == 1


def test_exclusion_of_the_user() -> None:
    acts = [wire_rpc("samr", "SamrEnumerateUsersInDomain", 1, actor=USER)]
    assert run(acts, SLUG, exclusions=[Exclusion(SLUG, "user", "mallory")]) == []
