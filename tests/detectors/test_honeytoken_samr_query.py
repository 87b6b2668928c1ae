"""2439 Honeytoken was queried via SAM-R."""

from __future__ import annotations

from tests.detectors.conftest import USER, act, run, wire_rpc

from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K

SLUG = "honeytoken-samr-query"
HONEY = Account("backup.admin", "CORP", "S-1-5-21-1-2-3-1113")


def test_lookup_by_name_then_open_by_learned_rid_is_one_alert() -> None:
    acts = [wire_rpc("samr", "SamrLookupNamesInDomain", 0, actor=USER,
                     args={"names": ["backup.admin"], "rids": [1113]}),
            wire_rpc("samr", "SamrOpenUser", 1, actor=USER, args={"rid": 1113}),
            wire_rpc("samr", "SamrQueryInformationUser2", 2, actor=USER,
                     args={"handle_of": "rid:1113", "info_class": 21})]
    alerts = run(acts, SLUG, honeytokens=["backup.admin"])
    assert len(alerts) == 1
    a = alerts[0]
    assert a.count == 3
    assert a.description.startswith("CORP\\mallory on 10.0.0.21 queried honeytoken "
                                    "backup.admin over SAM-R against 10.0.0.10: looked up the name")
    assert {e.role for e in a.entities} >= {"honeytoken", "attacker", "domain controller"}


def test_rid_known_from_sid_and_4661() -> None:
    acts = [act(K.LOGON, 0, actor=HONEY, src_ip="10.0.0.30"),  # teaches SID <-> name
            wire_rpc("samr", "opnum34", 1, actor=USER, args={"rid": 1113}, opnum=34),
            act(K.SAM_ACCESS, 2, actor=USER, fields={"object_type": "SAM_USER",
                                                     "object_name": HONEY.sid})]
    assert len(run(acts, SLUG, honeytokens=["backup.admin"])) == 2  # wire source + unknown


def test_quiet_on_other_users_untagged_and_dc_accounts() -> None:
    other = [wire_rpc("samr", "SamrLookupNamesInDomain", 0, actor=USER,
                      args={"names": ["alice"]})]
    assert run(other, SLUG, honeytokens=["backup.admin"]) == []
    tagged = [wire_rpc("samr", "SamrLookupNamesInDomain", 0, actor=USER,
                       args={"names": ["backup.admin"]})]
    assert run(tagged, SLUG) == []
    dc = [wire_rpc("samr", "SamrLookupNamesInDomain", 0, actor=Account("DC01$", "CORP"),
                   args={"names": ["backup.admin"]})]
    assert run(dc, SLUG, honeytokens=["backup.admin"]) == []
