"""2027 golden ticket (nonexistent account)."""

from __future__ import annotations

from tests.detectors.goldenutil import issue_tgt, present
from tests.detectors.netutil import ids_of, recording, run, wire
from tests.helpers import user

from dcwatch.model.activity import ActivityKind as K

SLUG = "golden-ticket-nonexistent-account"


def test_kdc_says_client_unknown() -> None:
    alerts = run(SLUG, [present(1, "F", status=6)])
    assert len(alerts) == 1
    assert "an account that is not in Active Directory" in alerts[0].description


def test_name_the_kdc_called_unknown_then_accepted_in_forged_tgt() -> None:
    probe = wire(K.KERBEROS_AS, 0, actor=user("ghost"), outcome="failure", status=6,
                 fields={"sname": "krbtgt/CONTOSO.LOCAL"})
    alerts = run(SLUG, [probe, present(5, "F", cname="ghost")])
    assert len(alerts) == 1
    assert "ghost" in alerts[0].description


def test_quiet_for_real_and_anonymous_names() -> None:
    assert run(SLUG, [present(1, "F", cname="Administrator")]) == []
    assert run(SLUG, [issue_tgt(0, "a", "T"), present(1, "T", status=6)]) == []
    assert run(SLUG, [present(1, "F", cname="WELLKNOWN/ANONYMOUS")]) == []


def test_lab_quiet() -> None:
    for s in ("benign_baseline", "golden_ticket", "kerberos_user_enum"):
        assert 2027 not in ids_of(recording(s)), s
