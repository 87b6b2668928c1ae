"""2430 Suspicious modification of domain AdminSdHolder."""

from __future__ import annotations

from tests.detectors.conftest import USER, act, run, scan_alerts, shared

from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "adminsdholder-modification"
DN = "CN=AdminSDHolder,CN=System,DC=corp,DC=local"
OLD = "O:DAG:DAD:PAI(A;;RPWPCRCCDCLCLORCWOWDSDDTSW;;;SY)(A;;LCRPLORC;;;AU)"
NEW = OLD + "(A;;GA;;;S-1-5-21-1-2-3-1105)"


def _sd(ts: float, op: str, value: str) -> object:
    return act(K.DS_MODIFY, ts, actor=USER, event_id=5136,
               fields={"dn": DN, "attributes": ["nTSecurityDescriptor"],
                       "values": {"nTSecurityDescriptor": value}, "operation": op,
                       "correlation": "{c1}"})


def test_5136_pair_reports_added_ace_and_trustee() -> None:
    acts = [act(K.LOGON, -1, actor=USER, src_ip="10.0.0.21"),  # names the SID
            _sd(0, "value_deleted", OLD), _sd(0.001, "value_added", NEW)]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.severity == "high"
    assert a.evidence["added_aces"] == [{"ace": "(A;;GA;;;S-1-5-21-1-2-3-1105)",
                                         "trustee": "S-1-5-21-1-2-3-1105",
                                         "trustee_name": "CORP\\mallory"}]
    assert a.description == (f"CORP\\mallory modified nTSecurityDescriptor of {DN} on DC01 "
                             "adding ACE(s) for CORP\\mallory.")


def test_wire_ldap_modify_and_samba_change_merge_by_object() -> None:
    wire = act(K.DS_MODIFY, 0, host="10.0.0.10", protocol="ldap", src_ip="10.0.0.21",
               dst_ip="10.0.0.10", target=Account(DN),
               fields={"dn": DN, "attributes": ["nTSecurityDescriptor"],
                       "changes": [{"op": "replace", "attribute": "nTSecurityDescriptor"}]})
    samba = act(K.DS_MODIFY, 0.01, host="DC01", protocol="samba", src_ip="10.0.0.21",
                actor=Account(None, None, USER.sid),
                fields={"dn": DN, "attributes": ["nTSecurityDescriptor"], "values": {}})
    alerts = run([wire, samba], SLUG)
    assert len(alerts) == 1
    assert alerts[0].count == 2


def test_quiet_on_other_objects_and_shared_acl_samples() -> None:
    other = act(K.DS_MODIFY, 0, actor=USER,
                fields={"dn": "DC=corp,DC=local", "attributes": ["nTSecurityDescriptor"]})
    assert run([other], SLUG) == []
    for rel in ("evtx-attack-samples/Persistence/DACL_DCSync_Right_Powerview__Add-DomainObjectAcl"
                ".evtx", "evtx-attack-samples/Privilege_Escalation/privexchange_dirkjan.evtx"):
        assert 2430 not in {a.external_id for a in scan_alerts(shared(rel))}


def test_wire_write_names_non_admin_control_grants() -> None:
    # an LDAP ModifyRequest carries only the new descriptor (rendered as SDDL by the decoder):
    # the default ACEs (admins, SYSTEM, read-only grants, one-property writes) are not reported
    dom = "S-1-5-21-7-8-9"
    sd = (f"D:(A;;0xf01ff;;;{dom}-512)(A;;0xf01ff;;;S-1-5-18)(A;;0x20094;;;S-1-5-11)"
          f"(OA;CIID;0x20;bf967a86-0de6-11d0-a285-00aa003049e2;;S-1-5-10)"
          f"(A;CIIOID;0xf01ff;;;S-1-3-0)(A;;0xf01ff;;;{dom}-1106)")
    wire = act(K.DS_MODIFY, 0, host="10.0.0.10", protocol="ldap", src_ip="10.0.0.21",
               dst_ip="10.0.0.10", target=Account(DN),
               fields={"dn": DN, "attributes": ["nTSecurityDescriptor"],
                       "changes": [{"op": "replace", "attribute": "nTSecurityDescriptor"}],
                       "values": {"nTSecurityDescriptor": [sd]}})
    (a,) = run([wire], SLUG)
    assert [t["trustee"] for t in a.evidence["control_granted_to_non_admins"]] == [f"{dom}-1106"]
    assert "added_aces" not in a.evidence
    assert f"the new DACL grants control to {dom}-1106" in a.description
