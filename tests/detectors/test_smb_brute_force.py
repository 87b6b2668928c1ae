"""2033 SMB brute force with an unusual implementation (SMB1 / LM / NTLMv1)."""

from __future__ import annotations

from tests.detectors.netutil import ids_of, recording, run, wire
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
