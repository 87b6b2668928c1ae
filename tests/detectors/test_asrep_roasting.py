"""2412 AS-REP roasting."""

from __future__ import annotations

import pytest
from tests.detectors.netutil import ids_of, recording, run, wire
from tests.helpers import act, user

from dcwatch.model.activity import ActivityKind as K

SLUG = "asrep-roasting"


def asrep(seconds: float, who: str, reply: int = 23, pa: list[int] | None = None,
          status: int = 0):
    return wire(K.KERBEROS_AS, seconds, actor=user(who), status=status,
                outcome="success" if status == 0 else "failure",
                fields={"etypes": [23], "pa_types": pa or [128], "reply_etype": reply,
                        "sname": "krbtgt/CONTOSO.LOCAL"})


def test_as_rep_without_preauth_rc4() -> None:
    alerts = run(SLUG, [asrep(0, "legacy.app")])
    assert len(alerts) == 1
    assert "without pre-authentication" in alerts[0].description
    assert alerts[0].evidence["accounts"] == ["legacy.app"]


def test_quiet_on_preauth_required_and_preauthenticated() -> None:
    assert run(SLUG, [asrep(0, "alice", status=25)]) == []  # every client's first AS-REQ
    assert run(SLUG, [asrep(0, "alice", pa=[2, 128])]) == []


def test_event_4768_preauth_type_0() -> None:
    evs = [act(K.KERBEROS_AS, i, actor=user(n), src_ip="10.0.0.5", outcome="success",
               status=0, fields={"preauth_type": 0, "ticket_etype": 18})
           for i, n in enumerate(("a", "b"))]
    assert len(run(SLUG, evs[:1])) == 1
    assert len(run(SLUG, evs, min_accounts=2)) == 1
    assert run(SLUG, evs[:1], min_accounts=2) == []


def test_lab_asrep_roast() -> None:
    """Labelled 2412; the recording holds no AS-REP (legacy.app answered PREAUTH_REQUIRED)."""
    got = ids_of(recording("asrep_roast"))
    if 2412 not in got:
        pytest.xfail("the KDC answered KDC_ERR_PREAUTH_REQUIRED: no AS-REP in the capture")
    assert 2412 in got


def test_lab_samba_audit() -> None:
    assert 2412 in ids_of(recording("asrep_roast", "samba-audit.jsonl"))


def test_quiet_on_benign() -> None:
    assert 2412 not in ids_of(recording("benign_baseline"))
    assert 2412 not in ids_of(recording("benign_baseline", "samba-audit.jsonl"))
    assert 2412 not in ids_of(recording("kerberos_user_enum"))
