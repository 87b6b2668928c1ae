"""2022 golden ticket (time anomaly): a TGT presented beyond MaxTicketAge."""

from __future__ import annotations

from datetime import timedelta

from tests.detectors.goldenutil import issue_tgt, present
from tests.detectors.netutil import ids_of, recording, run

SLUG = "golden-ticket-time-anomaly"
H = 3600


def test_issued_tgt_used_after_lifetime() -> None:
    alerts = run(SLUG, [issue_tgt(0, "bob", "T"), present(9 * H, "T", cname="bob"),
                        present(11 * H, "T", cname="bob")])
    assert len(alerts) == 1
    assert alerts[0].description.startswith("CONTOSO\\bob used a Kerberos ticket") or \
        alerts[0].description.startswith("bob used a Kerberos ticket")
    assert alerts[0].evidence["issued_seen"] is True


def test_unseen_tgt_counts_from_first_use_and_tunable() -> None:
    acts = [present(0, "X", cname="a"), present(10 * H + 600, "X", cname="a")]
    assert len(run(SLUG, acts)) == 1
    assert run(SLUG, acts, max_ticket_age=timedelta(hours=24)) == []


def test_lab_quiet() -> None:
    for s in ("benign_baseline", "golden_ticket", "killchain"):
        assert 2022 not in ids_of(recording(s)), s
