"""2013 forged PAC (MS14-068 pattern)."""

from __future__ import annotations

from tests.detectors.goldenutil import present
from tests.detectors.netutil import alerts_of, ids_of, recording, run, wire
from tests.helpers import user

from dcwatch.model.activity import ActivityKind as K

SLUG = "forged-pac"


def nopac_tgt(seconds: float, fp: str, include_pac: bool = False):
    return wire(K.KERBEROS_AS, seconds, actor=user("bob"), outcome="success", status=0,
                fields={"sname": "krbtgt/CONTOSO.LOCAL", "ticket_fingerprint": fp,
                        "include_pac": include_pac, "pa_types": [2, 128]})


def test_pacless_tgt_with_authorization_data() -> None:
    alerts = run(SLUG, [nopac_tgt(0, "N"), present(2, "N", status=41, svc="krbtgt/CONTOSO",
                                                   enc_authorization_data=True)])
    assert len(alerts) == 1
    assert alerts[0].description == ("CONTOSO\\bob on 10.0.0.21 failed to gain privileges on "
                                     "10.0.0.10 for krbtgt/CONTOSO with forged authorization "
                                     "data (the KDC refused it (KRB_AP_ERR_MODIFIED)).")


def test_quiet_with_pac_or_without_authorization_data() -> None:
    assert run(SLUG, [nopac_tgt(0, "N", include_pac=True), present(2, "N")]) == []
    assert run(SLUG, [nopac_tgt(0, "N"), present(2, "N", enc_authorization_data=False)]) == []


def test_outcome_of_the_ticket_the_forged_request_obtained() -> None:
    """The KDC answers the forged request; the next request presenting that ticket says
    whether the escalation worked (refused here: the alert is updated, not duplicated)."""
    forged = present(2, "N", svc="krbtgt/CONTOSO.LOCAL", enc_authorization_data=True,
                     enc_authorization_data_etype=18, ticket_fingerprint="T")
    alerts = run(SLUG, [nopac_tgt(0, "N"), forged, present(3, "T", status=13)])
    assert len(alerts) == 1
    a = alerts[0]
    assert a.description.endswith("with forged authorization data (the KDC issued the ticket); "
                                  "using it for cifs/dc01.contoso.local was refused "
                                  "(KDC_ERR_BADOPTION).")
    assert a.evidence["follow_up"][0]["status"] == 13
    assert a.evidence["enc_authorization_data_etype"] == 18


def test_lab_ms14_068_recording() -> None:
    """goldenPac.py against Samba 4.17: PAC-less AS-REQ, forged PAC in enc-authorization-data
    (decoded: present, AES256) answered with a TGT whose use for cifs/ is refused."""
    alerts = alerts_of(recording("forged_pac"), 2013)
    assert len(alerts) == 1
    a = alerts[0]
    assert "erin" in a.description
    assert "forged authorization data" in a.description
    assert "refused (KDC_ERR_BADOPTION)" in a.description
    assert a.evidence["enc_authorization_data"] is True
    assert a.evidence["service"] == "krbtgt/CONTOSO.LOCAL"


def test_lab_quiet() -> None:
    for s in ("benign_baseline", "golden_ticket", "kerberoast", "asrep_roast"):
        assert 2013 not in ids_of(recording(s)), s
