"""Lateral movement paths: the playbook chain on the lab fixture, sessions from activities,
retention, alert evidence, and path finding on generated domains (50k accounts)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import networkx as nx
import pytest
from tests.conftest import RECORDINGS

from dcwatch.entities.directory import load_bloodhound
from dcwatch.entities.lmp import SESSION, LateralMovement, SessionTracker, generate_directory
from dcwatch.entities.resolver import Resolver
from dcwatch.model.activity import Account, Activity, ActivityKind, Origin
from dcwatch.pipeline import ScanOptions, scan

BH = Path(__file__).resolve().parents[1] / "data" / "bloodhound"
T0 = datetime(2026, 12, 2, 1, tzinfo=UTC)
K = ActivityKind


@pytest.fixture
def lm() -> LateralMovement:
    snap = load_bloodhound([str(BH)], collected_at=T0)
    return LateralMovement(snap, now=T0 + timedelta(hours=1))


def test_playbook_chain(lm: LateralMovement) -> None:
    paths = lm.paths_from("hd.admin")
    assert paths[0].text() == ("CONTOSO\\hd.admin → member of CONTOSO\\Helpdesk → admin on WS2 "
                               "→ logged into by CONTOSO\\da.admin → member of "
                               "CONTOSO\\Domain Admins")
    assert paths[0].computers == ["WS2"]
    ev = lm.evidence_for(Account("hd.admin", "CONTOSO.LOCAL"))
    assert ev[0].startswith("CONTOSO\\hd.admin is on a lateral movement path to "
                            "CONTOSO\\Domain Admins via WS2")
    # alice reaches Domain Admins through hd.admin's cached credentials on WS1
    alice = [p.text() for p in lm.paths_from("alice", 5)]
    assert any("admin on WS1 → logged into by CONTOSO\\hd.admin → member of CONTOSO\\Helpdesk"
               " → admin on WS2 → logged into by CONTOSO\\da.admin" in t for t in alice)
    to_da = lm.paths_to("da.admin")
    assert to_da[0].steps[0].label in ("CONTOSO\\alice",)
    assert lm.paths_from("da.admin") == []  # a Domain Admin has nowhere higher to go


def test_retention_drops_old_sessions() -> None:
    snap = load_bloodhound([str(BH)], collected_at=T0)
    assert LateralMovement(snap, now=T0 + timedelta(hours=47)).paths_from("hd.admin")
    assert LateralMovement(snap, now=T0 + timedelta(hours=49)).paths_from("hd.admin") == []
    # a longer window (reports over a period) keeps them
    assert LateralMovement(snap, now=T0 + timedelta(days=5),
                           retention=timedelta(days=7)).paths_from("hd.admin")


def test_exposed_accounts_report(lm: LateralMovement) -> None:
    ex = {e.account: e for e in lm.exposed_accounts()}
    assert set(ex) == {"CONTOSO\\da.admin", "CONTOSO\\hd.admin"}
    assert ex["CONTOSO\\da.admin"].initiators == 1  # alice
    assert ex["CONTOSO\\da.admin"].computers == ["WS2"]
    svg = lm.svg(ex["CONTOSO\\da.admin"].samples)
    assert svg.startswith("<svg")
    assert "da.admin" in svg
    assert "<script" not in svg


def _act(kind: ActivityKind, **kw) -> Activity:
    return Activity(ts=kw.pop("ts", T0), kind=kind, origin=Origin("t"), **kw)


def test_session_tracker_sources() -> None:
    r = Resolver()
    r.ip_map.clear()
    tr = SessionTracker(r)
    tr.observe(_act(K.LOGON, host="WS9.contoso.local", actor=Account("bob", "CONTOSO"),
                    outcome="success", fields={"logon_type": 10}))
    tr.observe(_act(K.LOGON, host="WS9", actor=Account("carol", "CONTOSO"),
                    outcome="success", fields={"logon_type": 3}))  # plain network logon: no
    tr.observe(_act(K.KERBEROS_AS, src_ip="10.0.0.5", actor=Account("dave", "CONTOSO"),
                    outcome="success"))
    tr.observe(_act(K.KERBEROS_TGS, actor=Account("erin", "CONTOSO"), outcome="success",
                    fields={"service": "TERMSRV/srv1.contoso.local"}))
    tr.observe(_act(K.KERBEROS_TGS, actor=Account("erin", "CONTOSO"), outcome="success",
                    fields={"service": "ldap/dc01.contoso.local"}))  # not a session
    tr.observe(_act(K.RPC_CALL, fields={"operation": "NetrSessionEnum", "args": {
        "sessions": [{"client": "\\\\10.0.0.7", "user": "CONTOSO\\frank"},
                     {"client": "10.0.0.8", "user": None}]}}))
    tr.observe(_act(K.SMB_SESSION, src_ip="10.0.0.9", actor=Account("WS1$", "CONTOSO"),
                    outcome="success"))  # machine accounts are not sessions
    got = {(a, c, h.split(" (")[0]) for a, c, _, h in tr.records()}
    assert got == {("CONTOSO\\bob", "WS9", "remote desktop logon"),
                   ("CONTOSO\\dave", "10.0.0.5", "TGT requested from it"),
                   ("CONTOSO\\erin", "SRV1", "service ticket for TERMSRV/"),
                   ("CONTOSO\\frank", "10.0.0.7", "NetrSessionEnum result")}
    # an address resolved later names the computer
    r._learn_ip("10.0.0.5", "WS5", "test", "high", T0)
    assert ("CONTOSO\\dave", "WS5") in {(a, c) for a, c, _, _ in tr.records()}


def test_local_admin_from_4732_on_member_server() -> None:
    r = Resolver()
    tr = SessionTracker(r)
    tr.observe(_act(K.GROUP_MEMBER_ADDED, host="SRV1", target=Account(
        "Administrators", "BUILTIN", "S-1-5-32-544"), fields={"member_sid": "S-1-5-21-1-2-3-1500"}))
    assert tr.local_admins == {"SRV1": {"S-1-5-21-1-2-3-1500"}}


def test_killchain_alerts_carry_lmp_evidence() -> None:
    if not (RECORDINGS / "killchain" / "dc.pcap").exists():
        pytest.skip("killchain recording not present")
    snap = load_bloodhound([str(BH)], collected_at=datetime(2026, 12, 2, 1, tzinfo=UTC))
    res = scan(ScanOptions([str(RECORDINGS / "killchain")], directory=snap))
    opth = next(a for a in res.alerts if a.external_id == 2008)
    assert any(x.startswith("CONTOSO\\hd.admin is on a lateral movement path to "
                            "CONTOSO\\Domain Admins via WS2")
               for x in opth.evidence["lateral_movement_paths"])
    assert ("computer", "WS2", "lateral movement path") in {
        (e.kind, e.name, e.role) for e in opth.entities}
    ptt = next(a for a in res.alerts if a.external_id == 2018)
    assert any("da.admin (member of Domain Admins) is exposed" in x
               for x in ptt.evidence["lateral_movement_paths"])
    assert res.resolver is not None
    assert res.resolver.lateral_movement_paths(Account("hd.admin"))
    # sessions seen on the wire: hd.admin's TGT was requested from WS1
    assert ("S-1-5-21-3990289225-2346223702-4027528876-1105", "WS1") in {
        (a, c) for a, c, _, _ in res.sessions.records()}  # type: ignore[union-attr]


def _brute_force_counts(lm: LateralMovement) -> dict[str, int]:
    g = lm.g
    out = {}
    for t in g:
        d = g.nodes[t]
        if d["kind"] != "user" or not d.get("sensitive"):
            continue
        if not any(g.edges[c, t]["rel"] == SESSION for c in g.predecessors(t)):
            continue
        n = sum(1 for u in nx.ancestors(g, t) if g.nodes[u]["kind"] == "user"
                and not g.nodes[u].get("sensitive"))
        if n:
            out[d["label"]] = n
    return out


def test_exposed_counts_match_brute_force_on_generated_domain() -> None:
    snap, sessions = generate_directory(users=2000, computers=800, seed=3)
    lm = LateralMovement(snap, sessions)
    fast = {e.account: e.initiators for e in lm.exposed_accounts()}
    assert fast
    assert fast == _brute_force_counts(lm)
    for e in lm.exposed_accounts()[:3]:
        for p in e.samples:  # every sample is a real path in the graph, ending at the account
            nodes = [s.node for s in p.steps]
            assert all(lm.g.has_edge(u, v) for u, v in pairwise(nodes))
            assert e.account in [s.label for s in p.steps]


@pytest.mark.slow
def test_generated_domain_50k_accounts_20k_computers() -> None:
    import time

    snap, sessions = generate_directory(users=50_000, computers=20_000, seed=7)
    t = time.perf_counter()
    lm = LateralMovement(snap, sessions)
    ex = lm.exposed_accounts()
    took = time.perf_counter() - t
    assert lm.g.number_of_nodes() > 70_000
    assert ex
    assert all(e.initiators > 0 and e.samples for e in ex)
    assert lm.paths_from("user5")  # a helpdesk member reaches Domain Admins
    assert took < 30, f"full path computation took {took:.1f} s"
