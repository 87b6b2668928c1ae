"""2438 Directory Services Restore Mode Password Change."""

from __future__ import annotations

from tests.detectors.conftest import ADMIN, act, ids, run, scan_alerts, shared, wire_rpc

from dcwatch.model.activity import ActivityKind as K

SLUG = "dsrm-password-change"


def test_fires_on_4794() -> None:
    p = shared("evtx-attack-samples/Credential_Access/4794_DSRM_password_change_t1098.evtx")
    alerts = [a for a in scan_alerts(p) if a.external_id == 2438]
    assert len(alerts) == 1
    assert alerts[0].description == ("HQCORP\\administrator changed the Directory Services "
                                     "Restore Mode administrator password on 2016DC.")


def test_quiet_on_other_password_resets() -> None:
    p = shared("evtx-attack-samples/Credential_Access/remote_pwd_reset_rpc_mimikatz_"
               "postzerologon_target_DC.evtx")
    assert 2438 not in ids(scan_alerts(p))


def test_wire_samr_set_dsrm_password() -> None:
    alerts = run([wire_rpc("samr", "SamrSetDSRMPassword", 1, {"rid": 500}, actor=ADMIN)], SLUG)
    assert len(alerts) == 1
    assert "from 10.0.0.21" in alerts[0].description


def test_repeat_updates_the_alert() -> None:
    # (4794 exists only on DCs: the resolver takes it as proof of the role)
    b = [act(K.DSRM_PASSWORD_SET, i, actor=ADMIN, status=0, outcome="success") for i in (0, 5)]
    alerts = run(b, SLUG)
    assert len(alerts) == 1
    assert alerts[0].count == 2
