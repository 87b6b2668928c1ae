"""2019 Remote code execution attempt: labelled recordings, traps and synthetic cases."""

from __future__ import annotations

import pytest
from tests.detectors.conftest import ADMIN, act, ids, run, scan_alerts, shared, wire_rpc

from dcwatch.detectors.engine import Exclusion
from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "remote-code-execution"
EAS = "evtx-attack-samples/"


@pytest.mark.parametrize(("rel", "needle"), [
    ("Lateral_Movement/LM_ScheduledTask_ATSVC_target_host.evtx", "scheduling tasks"),
    ("Execution/temp_scheduled_task_4698_4699.evtx", "scheduling tasks"),
    ("Lateral_Movement/remote_task_update_4624_4702_same_logonid.evtx", "from 04246W-WIN10"),
    ("Lateral_Movement/LM_WMI_4624_4688_TargetHost.evtx", "running WMI methods"),
    ("Lateral_Movement/LM_PowershellRemoting_sysmon_1_wsmprovhost.evtx", "PowerShell"),
    ("Lateral_Movement/LM_winrm_exec_sysmon_1_winrshost.evtx", "WinRS"),
])
def test_fires_on_labelled_recordings(rel: str, needle: str) -> None:
    alerts = [a for a in scan_alerts(shared(EAS + rel)) if a.external_id == 2019]
    assert len(alerts) == 1
    assert needle in alerts[0].description
    assert alerts[0].title == "Remote code execution attempt"


def test_wmi_names_source_and_user_from_the_network_logon() -> None:
    a = next(a for a in scan_alerts(shared(EAS + "Lateral_Movement/LM_WMI_4624_4688_"
                                                  "TargetHost.evtx")) if a.external_id == 2019)
    assert a.description.startswith("Remote code execution on WIN-77LTAPHIQ1R from PC01:")
    assert "EXAMPLE\\Administrator succeeded in running WMI methods remotely." in a.description
    assert a.evidence["source_ip"] == "10.0.2.17"


def test_task_command_is_in_the_evidence() -> None:
    a = next(a for a in scan_alerts(shared(EAS + "Lateral_Movement/remote_task_update_4624_"
                                                  "4702_same_logonid.evtx")))
    assert a.evidence["methods"][0]["command"].startswith("cmd.exe /c echo testing")


@pytest.mark.parametrize("rel", [
    "Privilege_Escalation/PrivEsc_SeImpersonatePriv_enabled_back_for_upnp_localsvc_4698.evtx",
    "Lateral_Movement/LM_WMIC_4648_rpcss.evtx",  # source side of WMIC: not a DC event
    "Privilege_Escalation/NTLM2SelfRelay-med0x2e-security_4624_4688.evtx",  # workstation WMI
    "Lateral_Movement/LM_wmiexec_impacket_sysmon_whoami.evtx",
    "Lateral_Movement/RemotePowerShell_MS_Windows-Remote_Management_EventID_169.evtx",
    "Privilege_Escalation/System_7045_namedpipe_privesc.evtx",
])
def test_quiet_on_workstation_traps(rel: str) -> None:
    assert 2019 not in ids(scan_alerts(shared(EAS + rel)))


@pytest.mark.parametrize("rel", [
    "otrf-dev/lateral_movement/host/empire_smbexec_dcerpc_smb_svcctl.zip",
    "otrf-dev/lateral_movement/host/covenant_sc_query_dcerpc_smb_svcctl.zip",
    "otrf-dev/lateral_movement/network/covenant_sc_query_dcerpc_smb_svcctl.zip",
    "otrf-dev/lateral_movement/network/empire_smbexec_dcerpc_smb_svcctl.zip",
])
def test_quiet_on_otrf_negatives(rel: str) -> None:
    assert 2019 not in ids(scan_alerts(shared(rel)))


def _task_session(ts: float = 0, logon_type: int = 3, ip: str | None = "10.0.0.21"):
    return [
        act(K.LOGON, ts, actor=ADMIN, src_ip=ip, outcome="success",
            fields={"logon_type": logon_type, "logon_id": "0x1234"}),
        act(K.TASK_CREATED, ts + 1, actor=ADMIN,
            fields={"task_name": "\\Upd", "command": "cmd.exe /c whoami", "logon_id": "0x1234"}),
    ]


def test_task_from_network_session_fires_with_command() -> None:
    alerts = run(_task_session(), SLUG)
    assert len(alerts) == 1
    assert alerts[0].evidence["methods"][0]["command"] == "cmd.exe /c whoami"
    assert "from 10.0.0.21" in alerts[0].description


def test_task_from_interactive_session_is_quiet() -> None:
    assert run(_task_session(logon_type=10), SLUG) == []


def test_task_on_a_workstation_is_quiet() -> None:
    acts = [a for a in _task_session()]
    for a in acts:
        a.host = "WS7.corp.local"
    assert run(acts, SLUG, dcs=("DC01",)) == []


def test_one_shot_task_without_session_fires_but_slow_deletion_does_not() -> None:
    fast = [act(K.TASK_CREATED, 0, actor=ADMIN, fields={"task_name": "\\x", "logon_id": "0x9"}),
            act(K.TASK_DELETED, 0.5, actor=ADMIN, fields={"task_name": "\\x", "logon_id": "0x9"})]
    assert len(run(fast, SLUG)) == 1
    slow = [act(K.TASK_CREATED, 0, actor=ADMIN, fields={"task_name": "\\x", "logon_id": "0x9"}),
            act(K.TASK_DELETED, 600, actor=ADMIN, fields={"task_name": "\\x", "logon_id": "0x9"})]
    assert run(slow, SLUG) == []
    system = [act(K.TASK_CREATED, 0, actor=Account("SYSTEM", "NT AUTHORITY", "S-1-5-18"),
                  fields={"task_name": "\\x", "logon_id": "0x3e7"}),
              act(K.TASK_DELETED, 0.5, fields={"task_name": "\\x", "logon_id": "0x3e7"})]
    assert run(system, SLUG) == []


def test_wmi_child_joined_by_pid_when_4688_has_no_parent_image() -> None:
    svc = Account("DC01$", "CORP")
    acts = [act(K.LOGON, 0, actor=ADMIN, src_ip="10.0.0.21", src_host="WS1",
                fields={"logon_type": 3, "logon_id": "0x77"}),
            act(K.PROCESS_CREATED, 1, actor=svc, fields={
                "image": "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe", "pid": "0xae8",
                "logon_id": "0x3e7"}),
            act(K.PROCESS_CREATED, 2, actor=svc, fields={
                "image": "C:\\Windows\\System32\\cmd.exe", "pid": "0x10", "parent_pid": "0xae8",
                "command_line": "cmd.exe /c net user x /add", "logon_id": "0x3e4"})]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert "CORP\\Administrator succeeded in running WMI methods" in alerts[0].description
    assert alerts[0].evidence["methods"][0]["command"] == "cmd.exe /c net user x /add"


def test_wmi_helper_children_are_quiet() -> None:
    acts = [act(K.PROCESS_CREATED, 1, actor=ADMIN, fields={
        "image": "C:\\Windows\\System32\\wbem\\WMIADAP.exe",
        "parent_image": "C:\\Windows\\System32\\wbem\\WmiPrvSE.exe"})]
    assert run(acts, SLUG) == []


def test_wire_service_creation_and_event_merge_into_one_alert_per_source_and_dc() -> None:
    acts = [*_task_session(),
            wire_rpc("svcctl", "RCreateServiceW", 5, {"service": "WinUpdSvc",
                                                      "binary_path": "cmd.exe /c calc"}),
            wire_rpc("svcctl", "RStartServiceW", 6, {"handle_of": "WinUpdSvc"},
                     outcome="failure")]
    alerts = run(acts, SLUG, dcs=("DC01",), dc_ips=("10.0.0.10",))
    # event on DC01 (by name) and wire to 10.0.0.10 name the DC differently here: map the IP
    assert {a.external_id for a in alerts} == {2019}
    wire = [a for a in alerts if "creating service WinUpdSvc" in a.description]
    assert wire
    assert "failed in starting service WinUpdSvc remotely." in wire[0].description
    assert any(m.get("command") == "cmd.exe /c calc" for m in wire[0].evidence["methods"])
    assert wire[0].count == 2


def test_wire_event_merge_when_the_dc_name_is_known_for_its_ip() -> None:
    acts = [*_task_session(), wire_rpc("atsvc", "NetrJobAdd", 5, {"command": "cmd /c dir"},
                                       dst="10.0.0.10")]
    for a in acts[-1:]:
        a.dst_host = "DC01"
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert alerts[0].count == 2
    assert "scheduling tasks" in alerts[0].description


def test_wire_to_a_computer_never_shown_to_be_a_dc_is_quiet() -> None:
    acts = [wire_rpc("svcctl", "RCreateServiceW", 1, {"service": "x"}, dst="10.0.0.66")]
    assert run(acts, SLUG) == []


def test_wire_read_only_service_query_is_quiet() -> None:
    acts = [wire_rpc("svcctl", "ROpenSCManagerW", 1), wire_rpc("svcctl", "ROpenServiceW", 2),
            wire_rpc("svcctl", "RQueryServiceStatus", 3)]
    assert run(acts, SLUG) == []


def test_wmi_dcom_exec_method_by_opnum() -> None:
    a = wire_rpc("IWbemServices", "", 1, sealed=True)
    a.fields["opnum"] = 24
    alerts = run([a], SLUG)
    assert len(alerts) == 1
    assert "running WMI methods" in alerts[0].description


def test_exclusion_of_the_source_ip() -> None:
    assert run(_task_session(), SLUG, exclusions=[Exclusion(SLUG, "ip", "10.0.0.21")]) == []
