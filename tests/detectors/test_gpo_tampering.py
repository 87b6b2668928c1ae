"""2440 Group Policy Tampering."""

from __future__ import annotations

from tests.detectors.conftest import USER, act, lab, run, scan_alerts, shared

from dcwatch.model.activity import ActivityKind as K

SLUG = "gpo-tampering"
GUID = "{31B2F340-016D-11D2-945F-00C04FB984F9}"
DN = f"CN={GUID},CN=Policies,CN=System,DC=corp,DC=local"
POL = f"corp.local\\Policies\\{GUID}\\Machine\\Registry.pol"
DEFENDER = "Software\\Policies\\Microsoft\\Windows Defender"


def _version(ts: float) -> object:
    return act(K.DS_MODIFY, ts, actor=USER, event_id=5136,
               fields={"dn": DN, "object_class": "groupPolicyContainer",
                       "attributes": ["versionNumber"], "values": {"versionNumber": "7"},
                       "operation": "value_added"})


def test_acl_forcepwd_sample_versionnumber_edits_stay_quiet() -> None:
    # bob bumps versionNumber of two GPOs: what every GPMC edit writes (label: no alert
    # required, 2440 tolerated); nothing shows Defender being disabled or the GPO redirected.
    p = shared("evtx-attack-samples/Credential_Access/ACL_ForcePwd_SPNAdd_User_Computer_"
               "Accounts.evtx")
    assert 2440 not in {a.external_id for a in scan_alerts(p)}
    assert run([_version(0)], SLUG) == []


def test_registry_pol_disabling_defender_with_container_change() -> None:
    write = act(K.SMB_FILE_TRANSFER, 10, host="10.0.0.10", protocol="smb", src_ip="10.0.0.21",
                dst_ip="10.0.0.10", actor=USER,
                fields={"path": POL, "bytes_written": 180,
                        "registry_pol": [{"key": DEFENDER, "value": "DisableAntiSpyware",
                                          "data": 1},
                                         {"key": DEFENDER + "\\Real-Time Protection",
                                          "value": "DisableRealtimeMonitoring", "data": 1}]})
    alerts = run([_version(0), write], SLUG)
    assert len(alerts) == 1
    a = alerts[0]
    assert "to disable Microsoft Defender Antivirus" in a.description
    assert len(a.evidence["settings"]) == 2
    assert a.evidence["container_change"]["attributes"] == "versionNumber"


def test_container_change_after_the_write_joins_the_alert() -> None:
    # pyGPOAbuse / GPMC order: SYSVOL files first, then versionNumber in AD
    write = act(K.SMB_FILE_TRANSFER, 0, host="10.0.0.10", protocol="smb", src_ip="10.0.0.21",
                dst_ip="10.0.0.10", actor=USER,
                fields={"path": POL, "registry_pol": [{"key": DEFENDER,
                                                       "value": "DisableAntiSpyware",
                                                       "data": 1}]})
    alerts = run([write, _version(5)], SLUG)
    assert len(alerts) == 1
    assert alerts[0].evidence["container_change"]["attributes"] == "versionNumber"
    assert len(alerts[0].activities) == 2
    # a version bump long after (or without) a disabling write stays quiet
    assert run([write, _version(3600)], SLUG)[0].evidence.get("container_change") is None


def test_registry_pol_enabling_protection_is_quiet() -> None:
    write = act(K.SMB_FILE_TRANSFER, 0, host="10.0.0.10", protocol="smb", src_ip="10.0.0.21",
                dst_ip="10.0.0.10", actor=USER,
                fields={"path": POL, "registry_pol": [{"key": DEFENDER,
                                                       "value": "DisableAntiSpyware",
                                                       "data": 0}]})
    assert run([write], SLUG) == []


def test_gpcfilesyspath_redirect() -> None:
    ok = act(K.DS_MODIFY, 0, actor=USER, fields={
        "dn": DN, "attributes": ["gPCFileSysPath"], "operation": "value_added",
        "values": {"gPCFileSysPath": f"\\\\corp.local\\SysVol\\corp.local\\Policies\\{GUID}"}})
    bad = act(K.DS_MODIFY, 1, actor=USER, fields={
        "dn": DN, "attributes": ["gPCFileSysPath"], "operation": "value_added",
        "values": {"gPCFileSysPath": "\\\\10.0.0.99\\share\\gpo"}})
    assert run([ok], SLUG) == []
    alerts = run([ok, bad], SLUG)
    assert len(alerts) == 1
    assert "redirected Group Policy" in alerts[0].description


def test_lab_baseline_gpo_reads_stay_quiet() -> None:
    assert 2440 not in {a.external_id for a in scan_alerts(lab("benign_baseline"))}
