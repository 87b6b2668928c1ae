"""2419 sAMAccountName spoofing (noPac, CVE-2021-42278/42287)."""

from __future__ import annotations

from tests.detectors.conftest import USER, act, ids, run, scan_alerts, shared

from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "samaccountname-spoofing"


def test_fires_on_the_nopac_recording_with_ticket_follow_up() -> None:
    p = shared("evtx-attack-samples/Privilege_Escalation/samaccount_spoofing_CVE-2021-42287_"
               "CVE-2021-42278_DC_securitylogs.evtx")
    alerts = [a for a in scan_alerts(p) if a.external_id == 2419]
    assert len(alerts) == 1
    a = alerts[0]
    assert "renamed the computer account DC012$ to 01566s-win16-ir" in a.description
    assert a.evidence["source_computer"] == "04246W-WIN10"
    kinds = {t["kind"] for t in a.evidence["tickets_for_spoofed_name"]}
    assert kinds == {"kerberos.as_request", "kerberos.tgs_request"}
    assert a.count > 1


def test_quiet_on_other_account_changes() -> None:
    p = shared("evtx-attack-samples/Credential_Access/ACL_ForcePwd_SPNAdd_User_Computer_"
               "Accounts.evtx")
    assert 2419 not in ids(scan_alerts(p))


def _rename(ts: float, old: str, new: str):
    return act(K.ACCOUNT_RENAMED, ts, actor=USER, target=Account(new, "CORP"),
               fields={"old_name": old, "new_name": new})


def test_rename_to_another_known_dc_name_fires() -> None:
    alerts = run([_rename(0, "EVIL$", "dc02")], SLUG, dcs=("DC01", "DC02"))
    assert len(alerts) == 1


def test_ordinary_renames_are_quiet() -> None:
    assert run([_rename(0, "PC1$", "PC2$")], SLUG) == []
    assert run([_rename(0, "PC1$", "laptop7")], SLUG) == []  # not a DC name
    assert run([_rename(0, "DC01$", "DC01$")], SLUG) == []


def test_ticket_for_the_spoofed_name_updates_the_alert() -> None:
    acts = [_rename(0, "EVIL$", "dc01"),
            act(K.KERBEROS_AS, 1, actor=Account("dc01", "CORP"), src_ip="10.0.0.21",
                status=0, outcome="success", fields={"service": "krbtgt"})]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    assert alerts[0].count == 2
