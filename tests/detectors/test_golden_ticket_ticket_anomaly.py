"""2032 golden ticket (ticket anomaly): lab recordings and synthetic TGT presentations."""

from __future__ import annotations

from tests.detectors.goldenutil import issue_tgt, present
from tests.detectors.netutil import alerts_of, ids_of, recording, run

SLUG = "golden-ticket-ticket-anomaly"


def test_rejected_forgery_then_accepted_one_names_the_account() -> None:
    alerts = run(SLUG, [issue_tgt(0, "alice", "A"), present(1, "A", cname="alice"),
                        present(10, "FORGED-RC4", etype=23, status=44),
                        present(11, "FORGED-AES", cname="Administrator"),
                        present(12, "FORGED-AES", cname="Administrator", svc="ldap/dc01")])
    assert len(alerts) == 1
    a = alerts[0]
    assert a.external_id == 2032
    assert a.count == 3
    assert a.description.startswith("From 10.0.0.21, Administrator accessed "
                                    "cifs/dc01.contoso.local, ldap/dc01 on 10.0.0.10 with a "
                                    "suspicious Kerberos ticket")
    assert "KRB_AP_ERR_BADKEYVER" in a.description
    assert ("Administrator", "impersonated account") in {(e.name, e.role) for e in a.entities}


def test_unseen_tgt_alone_is_not_an_anomaly() -> None:
    # a TGT issued before the capture started: unknown fingerprint, accepted, nothing odd
    assert run(SLUG, [present(1, "OLD", cname="bob"), present(2, "OLD", cname="bob")]) == []
    # a TGT the KDC issued that later fails is not a forgery either
    assert run(SLUG, [issue_tgt(0, "bob", "T"), present(1, "T", status=44)]) == []


def test_follow_window_and_kvno_hook() -> None:
    acts = [present(0, "F1", etype=23, status=41), present(2 * 3600, "F2", cname="x")]
    assert run(SLUG, acts)[0].count == 1  # the second, 2 h later, is not attached
    kv = issue_tgt(0, "bob", "T")
    kv.fields["ticket_kvno"] = 2
    alerts = run(SLUG, [kv, present(5, "F", cname="Administrator", used_ticket_kvno=1)])
    assert len(alerts) == 1
    assert "key version 1" in alerts[0].description


def test_lab_golden_ticket_and_killchain() -> None:
    alerts = alerts_of(recording("golden_ticket"), 2032)
    assert len(alerts) == 1
    assert "Administrator" in alerts[0].description
    assert 2032 in ids_of(recording("killchain"))


def test_quiet_on_benign_and_other_kerberos_labs() -> None:
    for s in ("benign_baseline", "pass_the_ticket", "overpass_the_hash", "kerberoast"):
        assert 2032 not in ids_of(recording(s)), s
