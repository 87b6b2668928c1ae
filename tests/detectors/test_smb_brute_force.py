"""2033 SMB brute force with an unusual implementation (SMB1 / LM / NTLMv1)."""

from __future__ import annotations

from tests.detectors.netutil import alerts_of, ids_of, recording, run, wire
from tests.helpers import user

from dcwatch.model.activity import ActivityKind as K


def neg(seconds: float, port: int, dialect: str):
    return wire(K.SMB_NEGOTIATE, seconds, protocol="smb", src_port=port, status=0,
                fields={"dialect": dialect})


def fail(seconds: float, port: int, version: str = "v2"):
    return wire(K.SMB_SESSION, seconds, actor=user("dave"), protocol="smb", src_port=port,
                status=0xC000006D, outcome="failure",
                fields={"auth": "ntlm", "ntlm_version": version})


def test_smb1_tool_brute_force() -> None:
    acts = []
    for i in range(10):
        acts += [neg(i, 40000 + i, "NT LM 0.12"), fail(i + 0.5, 40000 + i)]
    alerts = run("smb-brute-force", acts)
    assert len(alerts) == 1
    assert "SMB1 dialect NT LM 0.12" in alerts[0].description


def test_ntlmv1_and_modern_stack() -> None:
    assert len(run("smb-brute-force", [fail(i, 1000 + i, "v1") for i in range(10)])) == 1
    modern = []
    for i in range(20):
        modern += [neg(i, 40000 + i, "3.1.1"), fail(i + 0.5, 40000 + i)]
    assert run("smb-brute-force", modern) == []  # 2023's business


def test_lab_brute_force_ntlm_is_2023_not_2033() -> None:
    assert 2033 not in ids_of(recording("brute_force_ntlm"))


def logged(seconds: float, port: int, package: str = "NTLMv1", service: str = "SMB2"):
    """Samba's audit record of a failed SMB logon (``passwordType`` is the package)."""
    return wire(K.NTLM_VALIDATION, seconds, actor=user("dave"), protocol="samba",
                src_port=port, status=0xC000006A, outcome="failure",
                fields={"package": package, "service": service})


def test_dc_log_names_the_ntlmv1_package() -> None:
    alerts = run("smb-brute-force", [logged(i, 2000 + i) for i in range(10)])
    assert len(alerts) == 1
    assert "NTLMv1 responses, per the DC's log" in alerts[0].description
    assert run("smb-brute-force", [logged(i, 2000 + i, "NTLMv2") for i in range(20)]) == []
    assert run("smb-brute-force", [logged(i, 2000 + i, service="LDAP") for i in range(20)]) == []


def test_wire_and_log_of_the_same_attempts_count_once() -> None:
    acts = [x for i in range(6) for x in (fail(i, 3000 + i, "v1"), logged(i + 0.1, 3000 + i))]
    assert run("smb-brute-force", acts) == []  # 6 attempts, not 12
    acts += [x for i in range(6, 10) for x in (fail(i, 3000 + i, "v1"), logged(i + .1, 3000 + i))]
    alerts = run("smb-brute-force", acts)
    assert len(alerts) == 1
    assert alerts[0].evidence["failures"] == 10


def test_lab_recording() -> None:
    """smb_brute_force: impacket with NTLMv1 responses, 15 failures on 3 accounts from WS2."""
    for name in ("dc.pcap", "samba-audit.jsonl"):
        alerts = alerts_of(recording("smb_brute_force", name), 2033)
        assert len(alerts) == 1, name
        assert alerts[0].description.startswith(
            "WS2 made 15 failed SMB logons against 3 account(s) on "), name
        assert "with an unusual protocol implementation (NTLMv1 responses" in \
            alerts[0].description
        assert sorted(alerts[0].evidence["accounts"]) == ["carol", "dave", "erin"]
