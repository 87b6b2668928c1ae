"""2024 sensitive group additions: by SID/RID, never by English name; DCs only."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import shared_file
from tests.helpers import act, user

from dcwatch.detectors.engine import Engine
from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K
from dcwatch.pipeline import ScanOptions, scan

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo" / "killchain.jsonl"


def test_project_fixture_domain_admins_and_administrators() -> None:
    alerts = [a for a in scan(ScanOptions([str(DEMO)])).alerts if a.external_id == 2024]
    groups = sorted(a.evidence["additions"][0]["group"] for a in alerts)
    assert groups == ["Administrators", "Domain Admins"]
    da = next(a for a in alerts if "Domain Admins" in a.description)
    assert da.description == ("CONTOSO\\da.admin made uncharacteristic changes to the "
                              "membership of sensitive groups: added support_tmp to Domain "
                              "Admins on DC01.")
    assert {(e.kind, e.role) for e in da.entities} >= {("user", "attacker"),
                                                       ("group", "sensitive group"),
                                                       ("computer", "domain controller")}


def test_localized_group_name_is_recognised_by_rid() -> None:
    e = Engine(slugs=["sensitive-group-addition"])
    alerts = e.run([act(K.GROUP_MEMBER_ADDED, 0, actor=user("x"),
                        target=Account("Domänen-Admins", "FIRMA", "S-1-5-21-7-8-9-512"),
                        fields={"member_sid": "S-1-5-21-7-8-9-2000", "group_scope": "global"})])
    assert len(alerts) == 1
    assert "Domänen-Admins" in alerts[0].description


def test_ordinary_group_and_removal_are_quiet() -> None:
    e = Engine(slugs=["sensitive-group-addition"])
    assert e.run([
        act(K.GROUP_MEMBER_ADDED, 0, actor=user("x"),
            target=Account("Domain Admins fan club", "C", "S-1-5-21-7-8-9-3001"),
            fields={"group_scope": "global"}),
        act(K.GROUP_MEMBER_REMOVED, 1, actor=user("x"),
            target=Account("Domain Admins", "C", "S-1-5-21-7-8-9-512"),
            fields={"group_scope": "global"}),
    ]) == []


def test_tagged_sensitive_group() -> None:
    from dcwatch.entities.resolver import Resolver

    e = Engine(Resolver(sensitive=["CONTOSO\\Tier0 Ops"]), slugs=["sensitive-group-addition"])
    alerts = e.run([act(K.GROUP_MEMBER_ADDED, 0, actor=user("x"),
                        target=Account("Tier0 Ops", "CONTOSO", "S-1-5-21-7-8-9-4000"),
                        fields={"group_scope": "global"})])
    assert len(alerts) == 1


def test_workgroup_local_administrators_is_tolerated_quiet() -> None:
    p = shared_file("evtx-attack-samples/Persistence/Network_Service_Guest_added_to_admins_"
                    "4732.evtx")
    assert [a for a in scan(ScanOptions([str(p)])).alerts if a.external_id == 2024] == []


def test_lab_ldap_modify_on_the_wire_and_samba_audit_merge() -> None:
    lab = Path(__file__).resolve().parents[1] / "data" / "recordings" / "user_added_to_admins"
    wire = [a for a in scan(ScanOptions([str(lab / "dc.pcap")])).alerts if a.external_id == 2024]
    assert len(wire) == 1
    assert {x["group"] for x in wire[0].evidence["additions"]} == {"Domain Admins",
                                                                   "Administrators"}
    both = [a for a in scan(ScanOptions([str(lab)])).alerts if a.external_id == 2024]
    assert len(both) == 1  # LDAP modify, Samba dsdbChange and groupChange: one alert
    assert both[0].description.startswith("CONTOSO\\da.admin made uncharacteristic changes")
    assert {x["member"] for x in both[0].evidence["additions"]} == {"eviluser2"}
