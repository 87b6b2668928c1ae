"""2013 forged PAC (MS14-068 pattern)."""

from __future__ import annotations

from tests.detectors.goldenutil import present
from tests.detectors.netutil import ids_of, recording, run, wire
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


def test_lab_quiet() -> None:
    for s in ("benign_baseline", "golden_ticket", "kerberoast", "asrep_roast"):
        assert 2013 not in ids_of(recording(s)), s
