"""2435 Suspicious modifications to the AD CS security permissions/settings."""

from __future__ import annotations

from tests.detectors.adcsutil import PKI_ADMIN, attack_alerts, benign_alerts, ca_op, of
from tests.detectors.conftest import run

from dcwatch.detectors.engine import Exclusion

SLUG = "adcs-permission-modification"


def test_fires_on_4882_and_4890_end_to_end() -> None:
    alerts = of(attack_alerts(), 2435)
    assert len(alerts) == 1  # one actor, one CA: the second change updates the alert
    a = alerts[0]
    assert a.count == 2
    assert a.description == ("CONTOSO\\mallory changed the security permissions and the "
                             "certificate manager settings of certification authority CA01.")
    assert a.evidence["new_settings"] == {"CertificateManagers": "CONTOSO\\mallory",
                                          "Enable": "1"}


def test_quiet_on_other_ca_events() -> None:
    assert of(benign_alerts(), 2435) == []
    assert run([ca_op("request_issued"), ca_op("property_changed")], SLUG) == []


def test_other_actor_opens_another_alert() -> None:
    alerts = run([ca_op("security_permissions_changed", 0),
                  ca_op("security_permissions_changed", 5, actor=PKI_ADMIN)], SLUG)
    assert len(alerts) == 2


def test_excluded_pki_administrator() -> None:
    acts = [ca_op("security_permissions_changed", actor=PKI_ADMIN)]
    assert run(acts, SLUG, exclusions=[Exclusion(SLUG, "user", "pki.admin")]) == []
