"""2427 Honeytoken user attributes modified."""

from __future__ import annotations

from tests.detectors.conftest import ADMIN, act, lab, run, scan_alerts

from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

ATTR = "honeytoken-attribute-modified"
GROUP = "honeytoken-group-membership-changed"
HONEY = Account("backup.admin", "CORP", "S-1-5-21-1-2-3-1113")
DN = "CN=backup.admin,CN=Users,DC=corp,DC=local"


def test_5136_and_4738_fold_into_one_alert_with_values() -> None:
    acts = [act(K.DS_MODIFY, 0, actor=ADMIN, event_id=5136,
                fields={"dn": DN, "attributes": ["mobile"], "values": {"mobile": "555-0100"},
                        "operation": "value_added"}),
            act(K.ACCOUNT_CHANGED, 0.1, actor=ADMIN, target=HONEY, event_id=4738,
                fields={"upn": "backup.admin@corp.local"})]
    alerts = run(acts, ATTR, honeytokens=["backup.admin"])
    assert len(alerts) == 1
    assert alerts[0].count == 2
    assert "modified backup.admin: mobile := 555-0100" in alerts[0].description
    assert alerts[0].severity == "high"


def test_wire_ldap_modify_uses_bind_identity_and_password_reset() -> None:
    bind = act(K.LDAP_BIND, 0, host="10.0.0.10", protocol="ldap", src_ip="10.0.0.21",
               src_port=5000, dst_ip="10.0.0.10", dst_port=389, outcome="success",
               actor=Account("mallory@corp.local"))
    mod = act(K.DS_MODIFY, 1, host="10.0.0.10", protocol="ldap", src_ip="10.0.0.21",
              src_port=5000, dst_ip="10.0.0.10", dst_port=389, outcome="success",
              target=Account(DN), fields={"dn": DN, "attributes": ["servicePrincipalName"],
                                          "changes": [{"op": "add",
                                                       "attribute": "servicePrincipalName"}],
                                          "values": {"servicePrincipalName": ["http/x"]}})
    reset = act(K.PASSWORD_RESET, 2, actor=ADMIN, target=HONEY, event_id=4724)
    alerts = run([bind, mod, reset], ATTR, honeytokens=["backup.admin"])
    assert len(alerts) == 1
    assert "mallory modified backup.admin: servicePrincipalName := http/x" in \
        alerts[0].description
    assert "reset the password of backup.admin" in alerts[0].description


def test_quiet_on_bookkeeping_system_other_users_and_lab_logons() -> None:
    acts = [act(K.DS_MODIFY, 0, actor=ADMIN, fields={"dn": DN, "attributes": ["lastLogon"],
                                                      "values": {}}),
            act(K.DS_MODIFY, 1, actor=Account("SYSTEM", "NT AUTHORITY", "S-1-5-18"),
                fields={"dn": DN, "attributes": ["description"], "values": {}}),
            act(K.ACCOUNT_CHANGED, 2, actor=ADMIN, target=Account("alice"), fields={})]
    assert run(acts, ATTR, honeytokens=["backup.admin"]) == []
    got = scan_alerts(lab("honeytoken_logon"), honeytokens=["backup.admin"])
    assert not {2427, 2428} & {a.external_id for a in got}
