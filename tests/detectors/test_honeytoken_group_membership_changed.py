"""2428 Honeytoken group membership changed."""

from __future__ import annotations

from tests.detectors.conftest import ADMIN, act, run

from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

ATTR = "honeytoken-attribute-modified"
GROUP = "honeytoken-group-membership-changed"
HONEY = Account("backup.admin", "CORP", "S-1-5-21-1-2-3-1113")
DN = "CN=backup.admin,CN=Users,DC=corp,DC=local"


def test_group_events_and_member_attribute_merge() -> None:
    acts = [act(K.GROUP_MEMBER_ADDED, 0, actor=ADMIN,
                target=Account("Domain Admins", "CORP", "S-1-5-21-1-2-3-512"),
                event_id=4728, fields={"member_name": DN, "member_sid": HONEY.sid,
                                       "group_scope": "global"}),
            act(K.DS_MODIFY, 0.1, actor=ADMIN, event_id=5136,
                fields={"dn": "CN=Domain Admins,CN=Users,DC=corp,DC=local",
                        "attributes": ["member"], "values": {"member": DN},
                        "operation": "value_added"})]
    alerts = run(acts, GROUP, honeytokens=["backup.admin"])
    assert len(alerts) == 1
    a = alerts[0]
    assert a.count == 2
    assert a.description == ("CORP\\Administrator added honeytoken backup.admin to "
                             "Domain Admins on DC01.")
    assert a.evidence["sensitive_group"] == "Domain Admins"


def test_group_removal_and_quiet_for_other_members() -> None:
    rm = act(K.GROUP_MEMBER_REMOVED, 0, actor=ADMIN, target=Account("Helpdesk", "CORP"),
             fields={"member_name": DN})
    alerts = run([rm], GROUP, honeytokens=["backup.admin"])
    assert "removed honeytoken backup.admin from Helpdesk" in alerts[0].description
    other = act(K.GROUP_MEMBER_ADDED, 0, actor=ADMIN, target=Account("Helpdesk", "CORP"),
                fields={"member_name": "CN=alice,CN=Users,DC=corp,DC=local"})
    assert run([other], GROUP, honeytokens=["backup.admin"]) == []


def test_add_then_remove_keeps_both_changes_in_the_evidence() -> None:
    group = Account("Helpdesk", "CORP")
    acts = [act(K.GROUP_MEMBER_ADDED, 0, actor=ADMIN, target=group,
                fields={"member_name": DN}),
            act(K.DS_MODIFY, 0.0002, actor=ADMIN, event_id=5136,  # the same change again
                fields={"dn": "CN=Helpdesk,CN=Users,DC=corp,DC=local",
                        "attributes": ["member"], "values": {"member": DN},
                        "operation": "value_added"}),
            act(K.GROUP_MEMBER_REMOVED, 2, actor=ADMIN, target=group,
                fields={"member_name": DN})]
    (a,) = run(acts, GROUP, honeytokens=["backup.admin"])
    assert [c["change"] for c in a.evidence["changes"]] == ["added", "removed"]
    assert "removed honeytoken backup.admin from Helpdesk" in a.description
