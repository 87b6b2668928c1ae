"""2026 suspicious service creation: on DCs, by what the service runs."""

from __future__ import annotations

import pytest
from tests.conftest import shared_file
from tests.helpers import act

from dcwatch.detectors.engine import Engine
from dcwatch.detectors.suspicious_service_creation import suspicious_reasons
from dcwatch.model.activity import ActivityKind as K
from dcwatch.pipeline import ScanOptions, scan


def ext_ids(rel: str) -> set[int]:
    return {a.external_id for a in scan(ScanOptions([str(shared_file(rel))])).alerts}


def test_fires_on_dc_7045() -> None:
    p = shared_file("evtx-attack-samples/Lateral_Movement/LM_Remote_Service02_7045.evtx")
    alerts = [a for a in scan(ScanOptions([str(p)])).alerts if a.external_id == 2026]
    # Two services on 2019-03-03 update one alert; the one 16 days later opens another.
    assert [[s["name"] for s in a.evidence["services"]] for a in alerts] == \
        [["spoolfool", "spoolsv"], ["remotesvc"]]
    assert [a.count for a in alerts] == [2, 1]
    assert alerts[0].description.endswith("installed service spoolsv on WIN-77LTAPHIQ1R, "
                                          "apparently to run malicious commands.")


@pytest.mark.parametrize("rel", [
    "evtx-attack-samples/Privilege_Escalation/System_7045_namedpipe_privesc.evtx",
    "otrf-dev/lateral_movement/host/empire_smbexec_dcerpc_smb_svcctl.zip",
    "otrf-dev/lateral_movement/host/covenant_sc_query_dcerpc_smb_svcctl.zip",
    "evtx-attack-samples/Defense_Evasion/DE_WinEventLogSvc_Crash_System_7036.evtx",
])
def test_quiet_on_workstations_and_queries(rel: str) -> None:
    assert 2026 not in ext_ids(rel)


@pytest.mark.parametrize(("path", "suspicious"), [
    ("%COMSPEC% /Q /c echo whoami > \\\\127.0.0.1\\C$\\out.txt", True),
    ("cmd.exe", True),
    ("powershell -nop -w hidden -enc SQBFAFgA", True),
    ("\\\\10.0.0.5\\share\\svc.exe", True),
    ("C:\\Users\\Public\\svc.exe", True),
    ("calc.exe", True),
    ("\"C:\\Program Files\\Vendor\\agent.exe\" -service", False),
    ("C:\\Windows\\system32\\svchost.exe -k netsvcs", False),
    ("%SystemRoot%\\system32\\msiexec.exe /V", False),
])
def test_reasons(path: str, suspicious: bool) -> None:
    assert bool(suspicious_reasons(path)) is suspicious


def test_driver_relative_path_is_normal() -> None:
    assert suspicious_reasons("system32\\DRIVERS\\vendor.sys", "kernel mode driver") == []


def test_creator_session_source_is_evidence() -> None:
    e = Engine(slugs=["suspicious-service-creation"])
    alerts = e.run([
        act(K.LOGON, 0, src_ip="10.0.0.21", src_host="WS1",
            fields={"logon_id": "0x77", "logon_type": 3}),
        act(K.SERVICE_INSTALLED, 1, fields={"service_name": "x", "image_path": "cmd /c whoami",
                                            "logon_id": "0x77"}),
    ])
    assert [(e.kind, e.name) for e in alerts[0].entities if e.role == "source computer"] == \
        [("computer", "WS1")]
