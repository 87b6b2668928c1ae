"""2009 golden ticket (encryption downgrade): an RC4 TGT the KDC never issued is presented."""

from __future__ import annotations

from tests.detectors.goldenutil import issue_tgt, present
from tests.detectors.netutil import ids_of, recording, run

SLUG = "golden-ticket-encryption-downgrade"


def test_accepted_rc4_tgt_where_kdc_issues_aes() -> None:
    alerts = run(SLUG, [issue_tgt(0, "alice", "A"), present(5, "RC4X", etype=23,
                                                           cname="Administrator")])
    assert len(alerts) == 1
    a = alerts[0]
    assert a.description.startswith("A TGS_REQ sent by 10.0.0.21 to reach "
                                    "cifs/dc01.contoso.local used weaker encryption (RC4-HMAC)")
    assert a.evidence["kdc_tgt_etypes"] == ["AES256-CTS-HMAC-SHA1-96"]


def test_quiet_cases() -> None:
    # no AES TGT seen from the KDC: nothing to compare with
    assert run(SLUG, [present(5, "RC4X", etype=23, cname="a")]) == []
    # refused for a reason that says nothing about the key (expired: KRB_AP_ERR_TKT_EXPIRED)
    assert run(SLUG, [issue_tgt(0, "a", "A"), present(5, "X", etype=23, status=32)]) == []
    # an RC4 TGT the KDC did issue (RC4-only domain account)
    assert run(SLUG, [issue_tgt(0, "a", "R", etype=23), issue_tgt(1, "b", "A"),
                      present(5, "R", etype=23, cname="a")]) == []
    # live mode: learning period (5 days) records only
    assert run(SLUG, [issue_tgt(0, "a", "A"), present(5, "X", etype=23, cname="x")],
               mode="live") == []


def test_rc4_forgery_the_kdc_cannot_decrypt() -> None:
    # Samba 4.17 holds no RC4 key for krbtgt and answers KRB_AP_ERR_BADKEYVER; a Windows KDC
    # would accept the same forgery: the presentation is what 2009 is about
    (a,) = run(SLUG, [issue_tgt(0, "a", "A"), present(5, "X", etype=23, status=44)])
    assert a.description.endswith("refused it (KRB_AP_ERR_BADKEYVER).")
    assert a.evidence["kdc_answer"] == "KRB_AP_ERR_BADKEYVER"


def test_lab_recordings() -> None:
    # killchain: WS1$ and alice get AES TGTs, then the RC4-forged TGT is presented (refused)
    assert 2009 in ids_of(recording("killchain"))
    # golden_ticket: no AS exchange shows the KDC issuing AES TGTs, nothing to compare with
    for s in ("golden_ticket", "benign_baseline"):
        assert 2009 not in ids_of(recording(s)), s
