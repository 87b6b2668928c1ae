"""2003 Account enumeration reconnaissance: labelled recordings and synthetic cases."""

from __future__ import annotations

from tests.detectors.conftest import act, ids, lab, run, scan_alerts, shared

from dcwatch.detectors.engine import Exclusion
from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "account-enumeration"
SPRAY = "evtx-attack-samples/Credential_Access/kerberos_pwd_spray_4771.evtx"


def test_fires_on_4768_principal_unknown_burst() -> None:
    alerts = [a for a in scan_alerts(shared(SPRAY)) if a.external_id == 2003]
    assert len(alerts) == 1
    ev = alerts[0].evidence
    assert set(ev["non_existing_accounts"]) == {"HD01", "HD02", "admin", "svc-01", "svc-02",
                                                "bob", "admin02"}
    assert set(ev["existing_accounts"]) == {"Administrator", "backdoor", "normal"}
    assert "from 172.16.66.1" in alerts[0].description


def test_fires_on_lab_capture_and_audit_log() -> None:
    assert 2003 in ids(scan_alerts(lab("kerberos_user_enum/dc.pcap")))
    assert 2003 in ids(scan_alerts(lab("kerberos_user_enum/samba-audit.jsonl")))


def test_quiet_on_password_spray_of_existing_accounts() -> None:
    assert 2003 not in ids(scan_alerts(lab("password_spray_kerberos/dc.pcap")))


def _as(ts: float, name: str, status: int, src: str = "10.0.0.21"):
    return act(K.KERBEROS_AS, ts, actor=Account(name, "CORP"), src_ip=src, status=status,
               outcome="success" if status == 0 else "failure")


def test_threshold_and_ratio() -> None:
    four = [_as(i, f"nobody{i}", 6) for i in range(4)]
    assert run(four, SLUG) == []
    five = [_as(i, f"nobody{i}", 6) for i in range(5)]
    assert len(run(five, SLUG)) == 1
    # mostly existing names (a busy NAT address with a few typos): quiet
    mixed = five + [_as(10 + i, f"user{i}", 0) for i in range(6)]
    assert run(sorted(mixed, key=lambda a: a.ts)[5:], SLUG) == []


def test_window() -> None:
    spread = [_as(i * 200, f"nobody{i}", 6) for i in range(6)]  # one name every 200 s
    assert run(spread, SLUG) == []


def test_ntlm_no_such_user_by_workstation_name() -> None:
    acts = [act(K.NTLM_VALIDATION, i, actor=Account(f"ghost{i}"), src_host="KIOSK7",
                status=0xC0000064, outcome="failure") for i in range(6)]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert "from KIOSK7" in alerts[0].description
    assert alerts[0].evidence["protocols"] == ["NTLM"]


def test_second_burst_updates_the_same_alert() -> None:
    first = [_as(i, f"a{i}", 6) for i in range(5)]
    second = [_as(60 + i, f"b{i}", 6) for i in range(3)]
    alerts = run(first + second, SLUG)
    assert len(alerts) == 1
    assert alerts[0].count > 1
    assert alerts[0].evidence["names_tried"] == 8


def test_machine_accounts_are_ignored() -> None:
    assert run([_as(i, f"PC{i}$", 6) for i in range(8)], SLUG) == []


def test_exclusion() -> None:
    acts = [_as(i, f"nobody{i}", 6) for i in range(6)]
    assert run(acts, SLUG, exclusions=[Exclusion(SLUG, "ip", "10.0.0.21")]) == []


def test_checkpoint_of_the_sliding_window_version_loads() -> None:
    """Older checkpoints hold a SlidingWindow per source: it is converted where it stands."""
    from tests.helpers import act

    from dcwatch.detectors.account_enumeration import AccountEnumeration, _Attempts
    from dcwatch.detectors.base import DetectionContext, SlidingWindow
    from dcwatch.entities.resolver import Resolver
    from dcwatch.model.activity import Account, ActivityKind

    det = AccountEnumeration(DetectionContext(Resolver()))
    old: SlidingWindow = SlidingWindow(det.window)
    for i in range(4):
        a = act(ActivityKind.KERBEROS_AS, i, actor=Account(f"ghost{i}", "CONTOSO"),
                src_ip="10.0.0.9", status=6)
        old.add(a.ts, (f"ghost{i}", True, a))
    det._by_source["other"] = SlidingWindow(det.window)
    det._by_source["10.0.0.9"] = old
    a = act(ActivityKind.KERBEROS_AS, 5, actor=Account("ghost9", "CONTOSO"),
            src_ip="10.0.0.9", status=6)
    drafts = det.observe(a)
    assert isinstance(det._by_source["10.0.0.9"], _Attempts)
    assert list(det._by_source) == ["other", "10.0.0.9"]
    assert len(drafts) == 1
    assert drafts[0].evidence["names_tried"] == 5
