"""2029 Suspected DCShadow attack (replication request): wire only, synthetic cases and the lab."""

from __future__ import annotations

import pytest
from tests.conftest import RECORDINGS
from tests.detectors.conftest import ADMIN, DC_IP, act, ids, run, scan_alerts, wire_rpc

from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "dcshadow-replication"


def test_replica_add_by_a_user_from_a_non_dc_fires() -> None:
    alerts = run([wire_rpc("drsuapi", "IDL_DRSReplicaAdd", 1, actor=ADMIN)], SLUG)
    assert len(alerts) == 1
    assert "is not a legitimate domain controller" in alerts[0].description


def test_replica_add_between_dcs_is_quiet() -> None:
    acts = [wire_rpc("drsuapi", "IDL_DRSReplicaAdd", 1, src="10.0.0.11",
                     actor=Account("DC02$", "CORP"))]
    assert run(acts, SLUG, dc_ips=(DC_IP, "10.0.0.11")) == []


def test_dc_pulling_changes_from_a_non_dc_fires() -> None:
    # WS5 (10.0.0.66) got a machine TGT, so its IP is known and it is not a configured DC;
    # the genuine DC then calls GetNCChanges on it: it replicates from a rogue
    tgt = act(K.KERBEROS_AS, 0, actor=Account("WS5$", "CORP"), src_ip="10.0.0.66", status=0,
              outcome="success")
    pull = wire_rpc("drsuapi", "IDL_DRSGetNCChanges", 1, src=DC_IP, dst="10.0.0.66")
    alerts = run([tgt, pull], SLUG, dcs=("DC01",), dc_ips=(DC_IP,))
    assert len(alerts) == 1
    assert alerts[0].evidence["rogue_computer"] == "WS5"
    # an address nothing is known about: quiet
    other = wire_rpc("drsuapi", "IDL_DRSGetNCChanges", 1, src=DC_IP, dst="10.0.0.77")
    assert run([other], SLUG) == []


def test_normal_dcsync_style_get_nc_changes_from_a_client_is_not_this_alert() -> None:
    assert run([wire_rpc("drsuapi", "IDL_DRSGetNCChanges", 1, actor=ADMIN)], SLUG) == []


def test_lab_dcshadow() -> None:
    # DRSReplicaAdd from WS1 as da.admin; Samba implements no DsReplicaAdd (fault), so the DC
    # never pulls from the rogue: the request alone raises the alert
    p = RECORDINGS / "dcshadow" / "dc.pcap"
    if not p.exists():
        pytest.skip("lab recording not present: dcshadow/dc.pcap")
    alerts = [a for a in scan_alerts(p) if a.external_id == 2029]
    assert len(alerts) == 1
    roles = {e.role: e.name for e in alerts[0].entities}
    assert roles["rogue computer"] == "WS1"
    assert roles["domain controller"] == "DC01"
    assert "da.admin" in roles["actor"]
    assert 2029 not in ids(scan_alerts(RECORDINGS / "dcshadow" / "samba-audit.jsonl"))
