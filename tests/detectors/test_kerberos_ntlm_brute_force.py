"""2023 Suspected Brute Force attack (Kerberos, NTLM): lab recordings and synthetic cases.

No positive example exists in ../shared/data (only a tolerated 2-failure spray); the lab
recordings and synthetic activities cover it.
"""

from __future__ import annotations

import pytest
from tests.detectors.conftest import act, ids, lab, run, scan_alerts, shared

from dcwatch.detectors.base import DetectionConfig
from dcwatch.detectors.engine import Exclusion
from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "kerberos-ntlm-brute-force"


@pytest.mark.parametrize("rel", ["brute_force_ntlm/dc.pcap", "brute_force_ntlm/samba-audit.jsonl",
                                 "password_spray_kerberos/dc.pcap",
                                 "password_spray_kerberos/samba-audit.jsonl"])
def test_fires_on_lab_recordings(rel: str) -> None:
    assert 2023 in ids(scan_alerts(lab(rel)))


def test_spray_names_the_guessed_account() -> None:
    a = next(a for a in scan_alerts(lab("password_spray_kerberos/dc.pcap"))
             if a.external_id == 2023)
    assert a.evidence["pattern"] == "password spray"
    assert a.evidence["guessed_accounts"] == ["carol"]
    assert a.severity == "high"


@pytest.mark.parametrize("rel", ["kerberos_user_enum/dc.pcap",
                                 "kerberos_user_enum/samba-audit.jsonl"])
def test_enumeration_is_not_a_spray(rel: str) -> None:
    assert 2023 not in ids(scan_alerts(lab(rel)))


def test_two_failures_stay_below_the_default_threshold() -> None:
    p = shared("evtx-attack-samples/Credential_Access/kerberos_pwd_spray_4771.evtx")
    assert 2023 not in ids(scan_alerts(p))


def _fail(ts: float, name: str, src: str = "10.0.0.21"):
    return act(K.KERBEROS_PREAUTH_FAILED, ts, actor=Account(name), src_ip=src, status=0x18,
               outcome="failure")


def test_spray_thresholds_by_level() -> None:
    four = [_fail(i, f"user{i}") for i in range(4)]
    assert run(four, SLUG) == []
    assert len(run(four, SLUG, config=DetectionConfig(thresholds={SLUG: "medium"}))) == 1
    three = four[:3]
    assert len(run(three, SLUG, config=DetectionConfig(test_mode=True))) == 1
    assert len(run([_fail(i, f"user{i}") for i in range(5)], SLUG)) == 1


def test_vertical_needs_a_burst_not_a_slow_stale_service() -> None:
    burst = [_fail(i * 2, "dave") for i in range(10)]
    alerts = run(burst, SLUG)
    assert len(alerts) == 1
    assert alerts[0].evidence["pattern"] == "vertical brute force"
    stale = [_fail(i * 55, "svc_backup") for i in range(11)]  # one retry a minute
    assert run(stale, SLUG) == []


def test_4625_and_4776_of_the_same_attempts_are_not_double_counted() -> None:
    acts = []
    for i in range(6):
        acts.append(act(K.NTLM_VALIDATION, i, actor=Account("dave"), src_host="WS1",
                        status=0xC000006A, outcome="failure"))
        acts.append(act(K.LOGON_FAILED, i, actor=Account("dave", "CORP"), src_host="WS1",
                        status=0xC000006A, outcome="failure"))
    assert run(acts, SLUG) == []  # 6 attempts, not 12


def test_wire_and_dc_log_of_the_same_attempts_are_not_double_counted() -> None:
    """A pcap and Samba's audit scanned together: the SMB client sees LOGON_FAILURE, the log
    says WRONG_PASSWORD, same client port: one attempt each. Separate connections still add."""
    acts = []
    for i in range(6):
        acts.append(act(K.NTLM_AUTH, i, actor=Account("dave"), src_ip="10.0.0.21",
                        src_port=40000 + i, protocol="ntlm", status=0xC000006D,
                        outcome="failure"))
        acts.append(act(K.NTLM_VALIDATION, i + 0.01, actor=Account("dave", "CORP"),
                        src_ip="10.0.0.21", src_port=40000 + i, protocol="samba",
                        status=0xC000006A, outcome="failure"))
    assert run(acts, SLUG) == []  # 6 attempts, not 12
    acts += [act(K.NTLM_AUTH, 6 + i, actor=Account("dave"), src_ip="10.0.0.21",
                 src_port=41000 + i, protocol="ntlm", status=0xC000006D, outcome="failure")
             for i in range(4)]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert alerts[0].evidence["failures"] == 10


def test_lab_folder_scan_counts_each_attempt_once() -> None:
    """brute_force_ntlm/ (dc.pcap + samba-audit.jsonl together): 15 guesses, not 30."""
    folder = lab("brute_force_ntlm/dc.pcap").parent
    alerts = [a for a in scan_alerts(folder) if a.external_id == 2023]
    assert len(alerts) == 1
    assert alerts[0].evidence["failures"] == 15


def test_learning_week_in_live_mode_then_alerts() -> None:
    live = DetectionConfig(mode="live")
    early = [_fail(i, f"user{i}") for i in range(6)]
    assert run(early, SLUG, config=live) == []
    later = early + [_fail(8 * 86400 + i, f"other{i}") for i in range(6)]
    assert len(run(later, SLUG, config=live)) == 1


def test_second_wave_updates_the_alert() -> None:
    acts = [_fail(i, f"user{i}") for i in range(5)] + \
        [_fail(120 + i, f"late{i}") for i in range(2)]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert alerts[0].count > 1


def test_exclusion() -> None:
    acts = [_fail(i, f"user{i}") for i in range(6)]
    assert run(acts, SLUG, exclusions=[Exclusion(SLUG, "ip", "10.0.0.21")]) == []
