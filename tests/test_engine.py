"""Engine: dispatch, updates instead of duplicates, exclusions, learning, DC-role decisions."""

from __future__ import annotations

from datetime import timedelta

from tests.helpers import T0, act, user

from dcwatch.detectors.base import DetectionConfig
from dcwatch.detectors.engine import Engine, Exclusion
from dcwatch.entities.resolver import Resolver
from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

DA = Account("Domain Admins", "CONTOSO", "S-1-5-21-1-2-3-512")
ADMINS = Account("Administrators", "Builtin", "S-1-5-32-544")
REPL = ["1131f6ad-9c07-11d1-f79f-00c04fc2dcd2"]


def add_member(seconds: float, actor: str = "alice", host: str = "DC01.contoso.local",
               local: bool = False):
    """4728 (Domain Admins, global: only DCs log it) or 4732 (Administrators, local)."""
    return act(K.GROUP_MEMBER_ADDED, seconds, host=host, actor=user(actor),
               target=ADMINS if local else DA,
               fields={"member_sid": "S-1-5-21-1-2-3-1300",
                       "group_scope": "local" if local else "global"})


def dcsync(seconds: float, actor: Account) -> object:
    return act(K.DS_ACCESS, seconds, actor=actor,
               fields={"object_server": "DS", "access_mask": 0x100, "properties": REPL})


def test_same_key_updates_open_alert() -> None:
    e = Engine(slugs=["sensitive-group-addition"])
    alerts = e.run([add_member(0), add_member(60), add_member(120)])
    assert len(alerts) == 1
    assert alerts[0].count == 3
    assert len(alerts[0].activities) == 3
    assert alerts[0].trigger == "update"


def test_outside_update_window_opens_new_alert() -> None:
    e = Engine(slugs=["sensitive-group-addition"])
    alerts = e.run([add_member(0), add_member(timedelta(days=3).total_seconds())])
    assert len(alerts) == 2
    assert alerts[0].id != alerts[1].id


def test_exclusion() -> None:
    e = Engine(slugs=["sensitive-group-addition"],
               exclusions=[Exclusion("*", "user", "alice")])
    assert e.run([add_member(0)]) == []
    assert e.excluded == 1
    e = Engine(slugs=["sensitive-group-addition"],
               exclusions=[Exclusion("dcsync", "user", "alice")])
    assert len(e.run([add_member(0)])) == 1


def test_learning_period_in_live_mode_only() -> None:
    week = timedelta(weeks=1).total_seconds()
    stream = [add_member(0, "alice"), add_member(5 * week, "alice"),
              add_member(5 * week + 1, "mallory")]
    live = Engine(config=DetectionConfig(mode="live"), slugs=["sensitive-group-addition"])
    alerts = live.run(stream)
    # alice modified Domain Admins while learning: her later change fits her profile.
    assert [a.evidence["additions"][0]["group"] for a in alerts] == ["Domain Admins"]
    assert "mallory" in alerts[0].description
    low = Engine(config=DetectionConfig(mode="live", thresholds={
        "sensitive-group-addition": "low"}), slugs=["sensitive-group-addition"])
    assert len(low.run(stream)) == 3  # Low: learning ignored, each addition alerts
    forensic = Engine(slugs=["sensitive-group-addition"])
    assert len(forensic.run(stream)) == 3


def test_dc_requirement_waits_for_evidence() -> None:
    # The 4728 arrives before anything says which host is the DC of corp.local.
    e = Engine(slugs=["sensitive-group-addition"])
    e.process(add_member(0, host="SRV9.corp.local", local=True))
    assert e.alerts == {}
    # Later the data shows DC1 issuing tickets: SRV9 is a member server of that domain.
    e.process(act(K.KERBEROS_AS, 10, host="DC1.corp.local", actor=user("bob"),
                  outcome="success", status=0))
    assert e.finish() == []


def test_unknown_role_is_assumed_dc_at_the_end() -> None:
    e = Engine(slugs=["sensitive-group-addition"])
    alerts = e.run([add_member(0, host="SRV9.corp.local", local=True)])
    assert len(alerts) == 1
    assert alerts[0].evidence["dc_role"].startswith("assumed")


def test_workgroup_host_is_not_a_dc() -> None:
    e = Engine(slugs=["sensitive-group-addition"])
    assert e.run([add_member(0, host="LAPTOP7", local=True)]) == []


def test_dc_machine_account_replication_is_normal() -> None:
    r = Resolver()
    e = Engine(r, slugs=["dcsync"])
    alerts = e.run([
        act(K.KERBEROS_AS, 0, host="DC1.corp.local", actor=user("x"), outcome="success"),
        dcsync(1, Account("DC1$", "CORP", None)),   # the DC itself
        dcsync(2, Account("DC2$", "CORP", None)),   # another DC the data does not show
        dcsync(3, user("mallory")),
    ])
    assert [a.type for a in alerts] == ["dcsync"]
    assert "mallory" in alerts[0].description
    assert r.dc_status("DC1")[0] is True


def test_configured_dc_list() -> None:
    r = Resolver(dcs=["DC1"])
    e = Engine(r, slugs=["dcsync"])
    alerts = e.run([dcsync(0, Account("WS5$", "CORP", None))])
    assert len(alerts) == 1  # a machine account that is not a configured DC


def test_deterministic_alert_ids() -> None:
    a1 = Engine(slugs=["sensitive-group-addition"]).run([add_member(0)])
    a2 = Engine(slugs=["sensitive-group-addition"]).run([a1[0].activities[0]])
    assert a1[0].id == a2[0].id


def test_name_resolution_from_the_wire() -> None:
    r = Resolver()
    r.observe(act(K.NTLM_AUTH, 0, host="10.0.0.10", protocol="ntlm", src_ip="10.0.0.21",
                  dst_ip="10.0.0.10", fields={"server_netbios_name": "DC01",
                                              "workstation": "WS1"}))
    r.observe(act(K.KERBEROS_AP, 1, host="10.0.0.10", protocol="kerberos", src_ip="10.0.0.22",
                  dst_ip="10.0.0.30", fields={"service": "cifs/fs01.contoso.local"}))
    assert (r.computer_for_ip("10.0.0.10").host, r.computer_for_ip("10.0.0.10").certainty) == \
        ("DC01", "high")
    assert r.computer_for_ip("10.0.0.21") is None  # a client names itself: not trusted
    assert r.computer_for_ip("10.0.0.30").host == "FS01"
    # DHCP gave 10.0.0.21 to another machine later: the newer high-certainty name wins.
    r.observe(act(K.KERBEROS_AS, 100, host="DC01.contoso.local", src_ip="10.0.0.21",
                  actor=Account("WS7$", "CONTOSO"), outcome="success", status=0))
    assert r.computer_for_ip("10.0.0.21").host == "WS7"


def test_realm_names_become_netbios_in_description_entities_and_evidence() -> None:
    from dcwatch.detectors.engine import _netbios_names
    from dcwatch.model.alert import AlertDraft, EntityRef

    d = AlertDraft("x", "k", "contoso.local\\da.admin changed it", [],
                   [EntityRef("user", "CONTOSO.LOCAL\\da.admin", "actor")],
                   {"actor": "contoso.local\\da.admin", "count": 2,
                    "changes": [{"actor": "Contoso.Local\\da.admin", "path": "a\\b"}]})
    _netbios_names(d, {"CONTOSO.LOCAL": "CONTOSO"})
    assert d.description == "CONTOSO\\da.admin changed it"
    assert d.entities[0].name == "CONTOSO\\da.admin"
    assert d.evidence == {"actor": "CONTOSO\\da.admin", "count": 2,
                          "changes": [{"actor": "CONTOSO\\da.admin", "path": "a\\b"}]}


def test_accounts_are_named_domain_backslash_user_in_alert_text() -> None:
    """A learned realm maps to its NetBIOS name; an unpaired DNS domain to its first label;
    host names, UNC and file paths are left alone."""
    from dcwatch.detectors.engine import _netbios_names
    from dcwatch.model.alert import AlertDraft, EntityRef

    d = AlertDraft(
        slug="x", key="k", activities=[],
        description=(r"contoso.local\alice and CORP.EXAMPLE.COM\bob opened "
                     r"\\dc01.contoso.local\sysvol and C:\Tools\v1.0\x.exe from 10.0.0.5\share"),
        entities=[EntityRef("user", r"contoso.local\alice", "attacker"),
                  EntityRef("computer", "dc01.contoso.local", "target")],
        evidence={"actor": r"contoso.local\alice", "paths": [r"\\dc01.contoso.local\sysvol"]})
    _netbios_names(d, {"CORP.EXAMPLE.COM": "EXAMPLE-HQ"})
    assert d.description == (r"CONTOSO\alice and EXAMPLE-HQ\bob opened "
                             r"\\dc01.contoso.local\sysvol and C:\Tools\v1.0\x.exe from "
                             r"10.0.0.5\share")
    assert [e.name for e in d.entities] == [r"CONTOSO\alice", "dc01.contoso.local"]
    assert d.evidence == {"actor": r"CONTOSO\alice", "paths": [r"\\dc01.contoso.local\sysvol"]}


def test_repeated_workstation_pair_moves_only_the_time_of_its_mapping() -> None:
    """The resolver's fast path for a (source address, workstation) pair seen before: the
    mapping's time moves; a new name, a high-certainty name or a DC address still count."""
    r = Resolver()
    r.observe(act(K.LOGON, 0, src_ip="10.0.0.21", src_host="WS1"))
    first = r.computer_for_ip("10.0.0.21")
    r.observe(act(K.LOGON, 5, src_ip="10.0.0.21", src_host="WS1"))
    assert r.computer_for_ip("10.0.0.21") is first
    assert first.seen == T0 + timedelta(seconds=5)
    r.observe(act(K.LOGON, 6, src_ip="10.0.0.21", src_host="WS2"))  # low replaces low
    assert r.computer_for_ip("10.0.0.21").host == "WS2"
    r.observe(act(K.LOGON, 7, src_ip="10.0.0.21", src_host="WS1"))  # the old pair again
    assert r.computer_for_ip("10.0.0.21").host == "WS1"
    r.observe(act(K.KERBEROS_AS, 8, src_ip="10.0.0.21", actor=Account("WS7$", "CONTOSO"),
                  outcome="success", status=0))
    high = r.computer_for_ip("10.0.0.21")
    for s in (9, 10):  # a record's name never replaces the machine's own TGT
        r.observe(act(K.LOGON, s, src_ip="10.0.0.21", src_host="WS1"))
    assert r.computer_for_ip("10.0.0.21") is high
    assert (high.host, high.seen) == ("WS7", T0 + timedelta(seconds=8))
    r.dc_ips["10.0.0.21"] = "test"  # the address turns out to be a DC's: its host is one
    r.observe(act(K.LOGON, 11, src_ip="10.0.0.21", src_host="WS1"))
    assert r.dc_status("WS1")[0] is True


def test_resolver_checkpoint_of_an_older_version_loads() -> None:
    import pickle

    r = Resolver()
    r.observe(act(K.LOGON, 0, src_ip="10.0.0.21", src_host="WS1"))
    state = dict(r.__dict__)
    for k in ("_ws_pairs", "_samba_pairs", "_known_accounts", "observed"):
        state.pop(k)
    old = Resolver.__new__(Resolver)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    old.observe(act(K.LOGON, 5, src_ip="10.0.0.21", src_host="WS1"))
    assert old.computer_for_ip("10.0.0.21").seen == T0 + timedelta(seconds=5)


def test_golden_ticket_family_shares_one_tracker_and_engine_pickles() -> None:
    import pickle

    slugs = ["golden-ticket-encryption-downgrade", "golden-ticket-nonexistent-account",
             "golden-ticket-ticket-anomaly", "golden-ticket-time-anomaly"]
    e = Engine(slugs=slugs)
    assert len({id(d.tgts) for d in e.detectors}) == 1  # type: ignore[attr-defined]
    e2 = pickle.loads(pickle.dumps(e))
    assert len({id(d.tgts) for d in e2.detectors}) == 1  # type: ignore[attr-defined]
    assert e2._observers[str(K.KERBEROS_AS)][0].__self__ is e2.detectors[0]


def test_shared_binds_and_logons_learn_each_activity_once() -> None:
    e = Engine()
    binds = {id(d.binds) for d in e.detectors if hasattr(d, "binds")}  # type: ignore[attr-defined]
    logons = [d.logons for d in e.detectors  # type: ignore[attr-defined]
              if hasattr(d, "logons") and d.logons.window == timedelta(minutes=2)]
    assert len(binds) == 1
    by_id: dict[int, int] = {}
    for x in logons:
        by_id[id(x)] = by_id.get(id(x), 0) + 1
    assert max(by_id.values()) == 8  # the detectors that feed it every logon share one
    e.process(act(K.LOGON, 0, src_ip="10.0.0.21", actor=user("alice"),
                  fields={"logon_id": "0x1234", "logon_type": 3}))
    shared = next(x for x in logons if by_id[id(x)] == 8)
    assert sum(len(w) for w in shared.recent.values()) == 1  # not once per detector


def test_ds_change_is_computed_again_when_the_resolver_learned_more() -> None:
    from dcwatch.detectors._common import ds_change

    r = Resolver()
    a = act(K.DS_MODIFY, 0, actor=Account(None, None, "S-1-5-21-1-2-3-1107"),
            fields={"dn": "CN=x,DC=contoso,DC=local", "attributes": ["description"]})
    r.observe(a)
    first = ds_change(a, r)
    assert ds_change(a, r) is first  # the same observation: shared
    r.observe(act(K.LOGON, 1, actor=user("bob", 1107)))  # learns the SID's name
    r.observe(a)
    assert ds_change(a, r).actor.name == "bob"


def test_account_memo_forgets_a_name_that_waits_for_ntlm_evidence() -> None:
    """FS2 validated its own local account carol (4776): not DC evidence. Seeing carol as FS2
    again settles that; her domain account seen later must not make FS2 a DC."""
    r = Resolver()
    r.observe(act(K.LOGON, 0, actor=Account("carol", "FS2")))
    r.observe(act(K.NTLM_VALIDATION, 1, host="FS2.contoso.local", actor=Account("carol")))
    r.observe(act(K.LOGON, 2, actor=Account("carol", "FS2")))
    r.observe(act(K.LOGON, 3, actor=Account("carol", "CONTOSO")))
    assert r.dc_status("FS2")[0] is not True


def test_updates_keep_the_uid_set_of_an_alert_current() -> None:
    """The engine keeps each open alert's activity uids between updates (no rebuild per
    update); the result is what a rebuild gives, also after the list was replaced."""
    from dcwatch.model.alert import AlertDraft

    e = Engine(slugs=["sensitive-group-addition"])
    acts = [act(K.GROUP_MEMBER_ADDED, i, actor=user("admin")) for i in range(8)]

    def draft(*xs: int) -> AlertDraft:
        return AlertDraft("sensitive-group-addition", "k", "d", [acts[x] for x in xs])

    alert = e.submit(draft(0, 1))
    assert alert is not None
    e.submit(draft(1, 2, 2))  # a repeat and a duplicate within the draft
    e.submit(draft(2, 3))
    assert [a.uid for a in alert.activities] == [acts[i].uid for i in (0, 1, 2, 2, 3)]
    assert alert.count == 3
    alert.activities = alert.activities[:2]  # replaced (as an output may do)
    e.submit(draft(3, 4))
    assert [a.uid for a in alert.activities] == [acts[i].uid for i in (0, 1, 3, 4)]
