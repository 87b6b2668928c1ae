"""2039 NTLM authentication tampering (MIC removed)."""

from __future__ import annotations

from tests.detectors.netutil import ids_of, recording, run, wire
from tests.helpers import user

from dcwatch.model.activity import ActivityKind as K


def auth(av_flags: int | None, mic_field: bool | None):
    f = {"ntlm_version": "v2", "via": "ldap", "av_flags": av_flags}
    if mic_field is not None:
        f["mic_field"] = mic_field
    return wire(K.NTLM_AUTH, 0, actor=user("DC02$"), protocol="ntlm", status=0,
                outcome="success", fields=f)


def test_mic_announced_but_missing() -> None:
    alerts = run("ntlm-tampering", [auth(0x2, False)])
    assert len(alerts) == 1
    assert "MIC removed" in alerts[0].description


def test_quiet_when_intact_or_unknown() -> None:
    assert run("ntlm-tampering", [auth(0x2, True)]) == []
    assert run("ntlm-tampering", [auth(0x0, False)]) == []
    assert run("ntlm-tampering", [auth(0x2, None)]) == []  # decoder without mic_field


def test_lab_quiet() -> None:
    for s in ("benign_baseline", "brute_force_ntlm"):
        assert 2039 not in ids_of(recording(s)), s
