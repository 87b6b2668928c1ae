"""2434 Suspicious disable of audit filters of AD CS."""

from __future__ import annotations

from tests.detectors.adcsutil import PKI_ADMIN, attack_alerts, benign_alerts, ca_op, of
from tests.detectors.conftest import run

from dcwatch.detectors.engine import Exclusion

SLUG = "adcs-audit-filter-disabled"


def test_fires_on_4885_end_to_end() -> None:
    alerts = of(attack_alerts(), 2434)
    assert len(alerts) == 1
    assert alerts[0].description.startswith(
        "CONTOSO\\mallory changed the audit filter of certification authority CA01 to 0, "
        "turning off auditing of: start and stop AD CS;")
    assert alerts[0].evidence["new_audit_filter"] == 0
    assert len(alerts[0].evidence["categories_turned_off"]) == 7


def test_quiet_when_every_category_stays_on() -> None:
    assert of(benign_alerts(), 2434) == []


def test_compares_with_the_previous_filter() -> None:
    # 63 -> 63 turns nothing off that was on; 63 -> 59 turns off request auditing (4)
    acts = [ca_op("audit_filter_changed", 0, audit_filter=63),
            ca_op("audit_filter_changed", 10, audit_filter=63),
            ca_op("audit_filter_changed", 20, audit_filter=59)]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert alerts[0].count == 2  # the first 63 (vs. the full 127) and the 59
    assert alerts[0].description.endswith("turning off auditing of: issue and manage "
                                          "certificate requests.")
    assert "issue and manage certificate requests" in alerts[0].evidence["categories_turned_off"]
    assert alerts[0].evidence["old_audit_filter"] == 63


def test_excluded_pki_administrator() -> None:
    acts = [ca_op("audit_filter_changed", actor=PKI_ADMIN, audit_filter=0)]
    assert len(run(acts, SLUG)) == 1
    assert run(acts, SLUG, exclusions=[Exclusion(SLUG, "user", "pki.admin")]) == []
