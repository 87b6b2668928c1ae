"""2035 WannaCry: the SMBv1 MS17-010 sequence (probe on FID 0 + TRANS2 SESSION_SETUP /
oversized NT_TRANSACT) from one source against a DC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.detectors.conftest import DC_IP, LAB, SHARED, act, ids, lab, run, scan_alerts

from dcwatch.detectors.engine import Exclusion
from dcwatch.model.activity import ActivityKind as K

SLUG = "wannacry"
SRC = "10.0.0.66"
PCAP = Path(__file__).resolve().parents[1] / "data" / "protocols" / "smb1-ms17-010.pcap"


def smb1(kind: K, ts: float, status: int | None = 0, src: str = SRC, **fields: Any):
    return act(kind, ts, host=DC_IP, src_ip=src, dst_ip=DC_IP, src_port=50101, dst_port=445,
               protocol="smb", status=status, fields={"smb1": True, **fields})


def trans(ts: float, cmd: str, sub: int, status: int | None = 0, **kw: Any):
    f = {"smb1_command": cmd, "subcommand": sub, "fid": None, "mid": 4, "reply_mid": 4,
         "total_data_count": 0, **kw}
    return smb1(K.SMB_NEGOTIATE, ts, status, **f)


def sequence(t: float = 0, src: str = SRC) -> list:
    return [
        smb1(K.SMB_SESSION, t, auth="anonymous", native_os="Windows 2000 2195", src=src),
        smb1(K.SMB_TREE_CONNECT, t + 1, share="\\\\10.0.0.10\\IPC$", share_name="IPC$",
             session_auth="anonymous", src=src),
        trans(t + 2, "transaction", 0x23, 0xC0000205, fid=0, src=src),
        trans(t + 3, "trans2", 0x0E, 0xC0000002, mid=0x41, reply_mid=0x51, src=src),
    ]


def test_probe_then_exploit_fires() -> None:
    alerts = run(sequence(), SLUG)
    assert len(alerts) == 1
    a = alerts[0]
    assert (a.external_id, a.title) == (2035, "Suspected WannaCry ransomware attack")
    assert a.description.startswith(f"{SRC} tried to exploit")
    assert "TRANS2_SESSION_SETUP request" in a.description
    assert a.evidence["vulnerable"] is True
    assert a.evidence["null_session_ipc"] is True
    assert a.evidence["implant_reply"] is True
    assert {e.role for e in a.entities} == {"source computer", "target domain controller"}


def test_oversized_nt_transact_is_an_exploitation_step() -> None:
    acts = [trans(0, "transaction", 0x23, 0, fid=0),
            trans(5, "nt_transact", 1, 0, total_data_count=0x10FE8)]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert "announcing 69608 data bytes" in alerts[0].description
    assert alerts[0].evidence["vulnerable"] is False


def test_probe_alone_or_exploit_alone_stays_quiet() -> None:
    assert run([trans(0, "transaction", 0x23, 0xC0000205, fid=0)], SLUG) == []  # scanner
    assert run([trans(0, "trans2", 0x0E, 0xC0000002)], SLUG) == []
    # the probe long before the exploitation step: outside the window
    assert run([trans(0, "transaction", 0x23, fid=0), trans(3600, "trans2", 0x0E)], SLUG) == []


def test_normal_smb1_client_stays_quiet() -> None:
    acts = [smb1(K.SMB_SESSION, 0, auth="ntlm"),
            smb1(K.SMB_TREE_CONNECT, 1, share="\\\\DC01\\IPC$", share_name="IPC$",
                 session_auth="ntlm"),
            trans(2, "transaction", 0x26, fid=0x4000),  # TransactNmPipe on an opened pipe
            trans(3, "transaction", 0x23, fid=0x4000),  # PeekNamedPipe on an opened pipe
            trans(4, "trans2", 0x01, 0xC000000F),  # FIND_FIRST2
            trans(5, "nt_transact", 4, total_data_count=0),  # NOTIFY_CHANGE
            trans(6, "nt_transact", 3, total_data_count=4096)]  # SET_SECURITY_DESC
    assert run(acts, SLUG) == []


def test_more_steps_update_the_open_alert() -> None:
    acts = [*sequence(), trans(30, "trans2", 0x0E, 0xC0000002, mid=0x42, reply_mid=0x42),
            trans(31, "nt_transact", 0, total_data_count=0x10FE8)]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert alerts[0].evidence["steps"] == 3


def test_two_sources_two_alerts() -> None:
    alerts = run([*sequence(0), *sequence(10, "10.0.0.67")], SLUG)
    assert len(alerts) == 2


def test_exclusion_of_the_source() -> None:
    assert run(sequence(), SLUG, exclusions=[Exclusion(SLUG, "ip", SRC)]) == []


def test_synthetic_capture_fires_once() -> None:
    alerts = [a for a in scan_alerts(PCAP) if a.external_id == 2035]
    assert len(alerts) == 1
    assert alerts[0].evidence["source_ip"] == SRC
    assert set(alerts[0].evidence["exploitation_steps"]) == {
        "NT_TRANSACT with undefined function 0", "TRANS2_SESSION_SETUP request"}
    assert alerts[0].evidence["probe_frame"] == 10


def test_lab_ms17_010_probe_against_samba() -> None:
    """Lab run (Samba 4.17 with SMB1 enabled for the scenario): WS1's anonymous IPC$ session,
    PeekNamedPipe on FID 0 (STATUS_INVALID_HANDLE) and TRANS2 SESSION_SETUP MID 65
    (STATUS_ACCESS_DENIED, same MID); alice's and bob's smbclient SMB1 sessions stay quiet."""
    alerts = [a for a in scan_alerts(lab("wannacry_probe/dc.pcap")) if a.external_id in
              (2034, 2035)]
    assert [a.external_id for a in alerts] == [2035]
    ev = alerts[0].evidence
    assert (ev["source_computer"], ev["source_ip"]) == ("WS1", "10.77.0.21")
    assert ev["null_session_ipc"] is True
    assert ev["exploitation_steps"] == ["TRANS2_SESSION_SETUP request"]
    assert (ev["probe_status"], ev["vulnerable"], ev["implant_reply"]) == (0xC0000008, False,
                                                                          False)
    assert {(e.name, e.role) for e in alerts[0].entities} == {
        ("WS1", "source computer"), ("DC01", "target domain controller")}


def _captures() -> list[Path]:
    lab = sorted(p for p in LAB.glob("*/*.pcap*")
                 if p.stat().st_size and p.parent.name != "wannacry_probe")
    shared = sorted(SHARED.glob("**/*.pcap")) + sorted(SHARED.glob("**/*.pcapng")) + sorted(
        SHARED.glob("otrf-dev/*/network/*.zip"))
    return lab + shared


@pytest.mark.slow
@pytest.mark.parametrize("capture", _captures(), ids=lambda p: p.name)
def test_recordings_stay_quiet(capture: Path) -> None:
    assert not {2034, 2035} & ids(scan_alerts(capture))
