"""2048 Suspicious Kerberos delegation attempt using BronzeBit method (CVE-2020-17049)."""

from __future__ import annotations

import dataclasses

from tests.detectors.conftest import DC_IP, act, run
from tests.detectors.netutil import RECORDINGS, alerts_of, recording

from dcwatch.detectors.engine import Exclusion
from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "bronze-bit"
SVC = Account("svc_web", "CONTOSO.LOCAL")
ISSUED = "a1" * 16
FORGED = "b2" * 16


def _tgs(ts: float, src: str = "10.0.0.30", outcome: str = "success", **fields: object
         ) -> object:
    return act(K.KERBEROS_TGS, ts, host=DC_IP, src_ip=src, src_port=50000 + int(ts),
               dst_ip=DC_IP, dst_port=88, protocol="kerberos", actor=SVC, outcome=outcome,
               status=0 if outcome == "success" else 13, fields=fields)


def _self(ts: float = 0, src: str = "10.0.0.30", fp: str = ISSUED) -> object:
    return _tgs(ts, src, s4u_user="administrator@CONTOSO.LOCAL", sname="svc_web",
                pa_types=[1, 129], kdc_options=["forwardable", "renewable"],
                ticket_fingerprint=fp)


def _proxy(ts: float = 1, src: str = "10.0.0.30", fp: str = FORGED, owner: str | None = None,
           outcome: str = "success") -> object:
    return _tgs(ts, src, outcome, sname="cifs/fs01.contoso.local",
                kdc_options=["forwardable", "renewable", "constrained-delegation"],
                additional_tickets=[{"fingerprint": fp, "etype": 18, "sname": "svc_web",
                                     "owner": owner}])


def test_fires_on_re_encrypted_evidence_ticket() -> None:
    alerts = run([_self(), _proxy()], SLUG)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.description == (
        "CONTOSO\\svc_web on 10.0.0.30 obtained a ticket to cifs/fs01.contoso.local as "
        "administrator@CONTOSO.LOCAL from 10.0.0.10 with a tampered S4U2self ticket "
        "(re-encrypted after the KDC issued it: BronzeBit forwardable-flag forgery, "
        "CVE-2020-17049).")
    roles = {(e.name, e.role) for e in a.entities}
    assert ("CONTOSO\\svc_web", "delegating service") in roles
    assert ("CONTOSO\\administrator", "impersonated user") in roles
    assert a.evidence["presented_ticket"] == FORGED


def test_quiet_on_protocol_transition_with_the_kdc_ticket() -> None:
    # a service configured for constrained delegation with protocol transition presents the
    # ticket it was issued (same cipher, owner known to the decoder)
    assert run([_self(), _proxy(fp=ISSUED)], SLUG) == []
    assert run([_self(), _proxy(owner="administrator@CONTOSO.LOCAL")], SLUG) == []


def test_quiet_without_a_recent_s4u2self_from_that_source() -> None:
    assert run([_proxy()], SLUG) == []
    assert run([_self(0, src="10.0.0.31"), _proxy(1)], SLUG) == []
    assert run([_self(0), _proxy(600)], SLUG) == []  # outside the window


def test_refused_attempt_and_repeat_update() -> None:
    alerts = run([_self(0), _proxy(1, outcome="failure"), _self(10, fp="c3" * 16),
                  _proxy(11)], SLUG)
    assert len(alerts) == 1
    assert alerts[0].count == 2
    assert "obtained a ticket" in alerts[0].description


def test_refusal_names_the_kdc_error() -> None:
    """A patched KDC checks the PAC ticket signature and refuses the altered ticket."""
    refused = dataclasses.replace(_proxy(1, outcome="failure"), status=31)
    alerts = run([_self(0), refused], SLUG)
    assert len(alerts) == 1
    assert "tried to obtain a ticket" in alerts[0].description
    assert alerts[0].description.endswith("The KDC refused it (KRB_AP_ERR_BAD_INTEGRITY).")
    assert alerts[0].evidence["status"] == "KRB_AP_ERR_BAD_INTEGRITY"


def test_lab_recording() -> None:
    """getST.py -force-forwardable against Samba 4.17 (svc_web: constrained delegation to
    cifs/dc01, Kerberos only): the tampered S4U2self ticket is refused."""
    alerts = alerts_of(recording("bronze_bit"), 2048)
    assert len(alerts) == 1
    a = alerts[0]
    assert "svc_web" in a.description
    assert "as Administrator@contoso.local" in a.description
    assert "KRB_AP_ERR_BAD_INTEGRITY" in a.description
    assert a.evidence["issued_ticket"] != a.evidence["presented_ticket"]


def test_lab_quiet_on_untampered_s4u() -> None:
    """new_computer_s4u presents the KDC's own S4U2self ticket: not Bronze Bit."""
    for s in ("new_computer_s4u", "benign_baseline", "killchain"):
        p = RECORDINGS / s / "dc.pcap"
        if p.exists():
            assert 2048 not in {x.external_id for x in alerts_of(p)}, s


def test_event_logs_are_ignored_and_exclusion() -> None:
    ev = act(K.KERBEROS_TGS, 1, actor=SVC, fields={"transited": "svc_web@CONTOSO.LOCAL"})
    assert run([ev], SLUG) == []
    assert run([_self(), _proxy()], SLUG,
               exclusions=[Exclusion(SLUG, "user", "svc_web")]) == []
