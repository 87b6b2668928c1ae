"""2421 Suspicious modification of a dNSHostName attribute (CVE-2022-26923)."""

from __future__ import annotations

from tests.detectors.conftest import USER, act, run, scan_alerts, shared

from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "dnshostname-modification"
EVIL = Account("EVIL01$", "CORP", "S-1-5-21-1-2-3-1200")


def test_4742_set_to_dc_name_after_spn_cleanup() -> None:
    acts = [act(K.COMPUTER_CHANGED, 0, actor=USER, target=EVIL, event_id=4742,
                fields={"spns": "-"}),
            act(K.COMPUTER_CHANGED, 1, actor=USER, target=EVIL, event_id=4742,
                fields={"spns": "HOST/x"}),
            act(K.COMPUTER_CHANGED, 2, actor=USER, target=EVIL, event_id=4742,
                fields={"dns_host_name": "dc01.corp.local"})]
    alerts = run(acts, SLUG)
    assert len(alerts) == 1
    a = alerts[0]
    assert a.description == ("CORP\\mallory set the dNSHostName of EVIL01$ to "
                             "dc01.corp.local, the name of the domain controller DC01, on DC01 "
                             "after clearing its SPNs.")
    assert a.evidence["impersonated_is_dc"] is True


def test_wire_ldap_add_of_computer_with_dc_name() -> None:
    add = act(K.DS_CREATE, 0, host="10.0.0.10", protocol="ldap", src_ip="10.0.0.21",
              dst_ip="10.0.0.10", target=Account("CN=EVIL01,CN=Computers,DC=corp,DC=local"),
              fields={"dn": "CN=EVIL01,CN=Computers,DC=corp,DC=local",
                      "attributes": ["sAMAccountName", "dNSHostName"],
                      "values": {"sAMAccountName": ["EVIL01$"],
                                 "dNSHostName": ["DC01.corp.local"]}})
    assert len(run([add], SLUG)) == 1


def test_quiet_on_own_name_renames_and_unknown_names() -> None:
    acts = [act(K.COMPUTER_CHANGED, 0, actor=USER, target=EVIL,
                fields={"dns_host_name": "evil01.corp.local"}),
            act(K.COMPUTER_CHANGED, 1, actor=USER, target=EVIL,
                fields={"dns_host_name": "ws77.corp.local", "sam_account_name": "WS77$"}),
            act(K.COMPUTER_CHANGED, 2, actor=USER, target=EVIL,
                fields={"dns_host_name": "neverseen.corp.local"})]
    assert run(acts, SLUG) == []


def test_shared_nopac_and_dcshadow_stay_quiet() -> None:
    for rel in ("evtx-attack-samples/Privilege_Escalation/samaccount_spoofing_CVE-2021-42287_"
                "CVE-2021-42278_DC_securitylogs.evtx",
                "evtx-attack-samples/Persistence/persistence_security_dcshadow_4742.evtx"):
        assert 2421 not in {a.external_id for a in scan_alerts(shared(rel))}


def test_ldap_bind_names_become_accounts() -> None:
    """A wire LDAP write carries the bind's name as the decoder saw it (UPN, DOMAIN\\user or
    a DN): detectors name the account DOMAIN\\user either way."""
    from dcwatch.detectors._common import LdapBinds

    binds = LdapBinds()
    for raw, want in (("hd.admin@contoso.local", ("hd.admin", "contoso.local")),
                      ("CONTOSO\\hd.admin", ("hd.admin", "CONTOSO")),
                      ("CN=hd.admin,CN=Users,DC=contoso,DC=local", ("hd.admin", None))):
        write = act(K.DS_MODIFY, 0, protocol="ldap", actor=Account(raw))
        got = binds.actor(write)
        assert (got.name, got.domain) == want
    named = act(K.DS_MODIFY, 0, protocol="ldap", actor=Account("hd.admin", "CONTOSO"))
    assert binds.actor(named) == Account("hd.admin", "CONTOSO")
