"""2433 Suspicious deletion of the certificate database entries."""

from __future__ import annotations

from tests.detectors.adcsutil import PKI_ADMIN, attack_alerts, benign_alerts, ca_op, of
from tests.detectors.conftest import run

from dcwatch.detectors.engine import Exclusion

SLUG = "adcs-database-deletion"


def test_fires_on_4896_end_to_end() -> None:
    alerts = of(attack_alerts(), 2433)
    assert len(alerts) == 1
    assert alerts[0].description == ("CONTOSO\\mallory deleted 2 row(s) from the certificate "
                                     "database (Request table) of certification authority CA01.")
    assert {(e.name, e.role) for e in alerts[0].entities} == {
        ("CONTOSO\\mallory", "actor"), ("CA01", "certification authority")}
    assert alerts[0].evidence["filter"] == "RequestId <= 41"


def test_quiet_when_nothing_was_deleted() -> None:
    assert of(benign_alerts(), 2433) == []


def test_repeat_updates_the_alert() -> None:
    alerts = run([ca_op("rows_deleted", t, rows_deleted=5, table="Request") for t in (0, 60)],
                 SLUG)
    assert len(alerts) == 1
    assert alerts[0].count == 2


def test_other_ca_operations_are_ignored() -> None:
    assert run([ca_op("request_received"), ca_op("audit_filter_changed", audit_filter=0)],
               SLUG) == []


def test_excluded_pki_administrator() -> None:
    acts = [ca_op("rows_deleted", actor=PKI_ADMIN, rows_deleted=100, table="Request")]
    assert len(run(acts, SLUG)) == 1
    assert run(acts, SLUG, exclusions=[Exclusion(SLUG, "user", "pki.admin")]) == []
