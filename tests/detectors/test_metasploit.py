"""2034 Metasploit: SMB1 session setups whose NativeOS/NativeLanMan claim contradicts the
client's own NTLM NEGOTIATE (unverified, conservative fingerprint set)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.detectors.conftest import DC_IP, act, run, scan_alerts

from dcwatch.detectors.engine import Exclusion
from dcwatch.detectors.metasploit import claimed_version
from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "metasploit"
SRC = "10.0.0.77"
PCAP = Path(__file__).resolve().parents[1] / "data" / "protocols" / "smb1-ms17-010.pcap"
VERSION_FLAG = 0x02000000
RUBY_SMB = ("Windows 7 Ultimate N 7601 Service Pack 1", "Windows 7 Ultimate N 6.1")
REX = ("Windows 2000 2195", "Windows 2000 5.0")


def setup(ts: float, native: tuple[str, str], flags: int | None,
          version: list[int] | None = None, status: int = 0xC000006D, src: str = SRC,
          offered: list[str] | None = None, **kw: Any):
    fields = {"smb1": True, "auth": "ntlm", "native_os": native[0], "native_lanman": native[1],
              "ntlm_negotiate_flags": flags, "ntlm_negotiate_version": version,
              "dialects_offered": offered if offered is not None else ["NT LM 0.12"], **kw}
    return act(K.SMB_SESSION, ts, host=DC_IP, src_ip=src, dst_ip=DC_IP, src_port=50303,
               dst_port=445, protocol="smb", status=status,
               actor=Account("alice", "CORP"), fields=fields)


@pytest.mark.parametrize(("os_", "lanman", "want"), [
    ("Windows 7 Professional 7601 Service Pack 1", "Windows 7 Professional 6.1", (6, 1, 7601)),
    ("Windows 2000 2195", "Windows 2000 5.0", (5, 0, 2195)),
    ("Windows 5.1", "Windows 2000 LAN Manager", (5, 1, None)),
    ("Windows Server 2003 3790 Service Pack 2", "Windows Server 2003 5.2", (5, 2, 3790)),
    ("Unix", "Samba", None),
    ("Windows 8.1 9600", "Windows 8.1 6.3", (6, 3, 9600)),
])
def test_claimed_version(os_: str, lanman: str, want: tuple | None) -> None:
    assert claimed_version(os_, lanman) == want


def test_windows7_claim_without_ntlm_version_fires() -> None:
    alerts = run([setup(0, RUBY_SMB, 0xE0888235)], SLUG)
    assert len(alerts) == 1
    a = alerts[0]
    assert (a.external_id, a.title) == (2034, "Suspected use of Metasploit hacking framework")
    assert "unusual protocol implementation, as attack tools such as Metasploit do" in (
        a.description)
    assert a.evidence["outcome"] == "failure"
    assert a.evidence["supporting"] == ["a Windows 6.1 client offered no SMB 2 dialect"]


def test_windows2000_claim_with_a_version_fires() -> None:
    alerts = run([setup(0, REX, 0xE2088235, [10, 0, 19041])], SLUG)
    assert len(alerts) == 1
    assert "NTLM Version 10.0 build 19041 while NativeOS/NativeLanMan claim 5.0 build 2195" in (
        alerts[0].description)
    assert "Windows 2000, which has no NTLM Version" in alerts[0].description


def test_consistent_clients_stay_quiet() -> None:
    win7 = ("Windows 7 Professional 7601 Service Pack 1", "Windows 7 Professional 6.1")
    acts = [
        setup(0, win7, 0xE2088235, [6, 1, 7601], offered=["NT LM 0.12", "SMB 2.002"]),
        setup(1, REX, 0xE0888235),  # a real Windows 2000: no Version flag
        setup(2, REX, None),  # non-extended security (also WannaCry's session): no NTLM to judge
        setup(3, ("Unix", "Samba"), 0xE0888235),  # impacket / smbclient
        setup(4, ("Windows 5.1", "Windows 2000 LAN Manager"), 0xE2088215, [5, 1, 2600]),
    ]
    assert run(acts, SLUG) == []
    # only the supporting oddity (SMB2 disabled on a Windows 7 client): quiet
    assert run([setup(5, win7, 0xE2088235, [6, 1, 7601])], SLUG) == []


def test_smb2_sessions_are_not_judged() -> None:
    a = setup(0, RUBY_SMB, 0xE0888235)
    a.fields["smb1"] = False
    assert run([a], SLUG) == []


def test_repeats_update_the_open_alert() -> None:
    alerts = run([setup(t, RUBY_SMB, 0xE0888235) for t in (0, 5, 10)], SLUG)
    assert len(alerts) == 1


def test_exclusion_of_the_source() -> None:
    acts = [setup(0, RUBY_SMB, 0xE0888235)]
    assert run(acts, SLUG, exclusions=[Exclusion(SLUG, "ip", SRC)]) == []


def test_synthetic_capture_fires_only_on_the_fingerprinted_client() -> None:
    alerts = [a for a in scan_alerts(PCAP) if a.external_id == 2034]
    assert [a.evidence["source_ip"] for a in alerts] == [SRC]
