"""Directory knowledge: BloodHound import, LDAP sync (ldap3 MOCK_SYNC), store round trip,
resolver feeding."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.entities.mockdir import BASE, DOM, mock_connection

from dcwatch.entities.directory import (
    LdapTarget,
    Snapshot,
    apply_to_resolver,
    load_bloodhound,
    sid_bytes,
    sid_text,
    sync_ldap,
)
from dcwatch.entities.resolver import Resolver
from dcwatch.errors import ConfigError
from dcwatch.model.activity import Account
from dcwatch.store import Store
from dcwatch.store.directory import DirectoryStore

BH = Path(__file__).resolve().parents[1] / "data" / "bloodhound"
D = "S-1-5-21-3990289225-2346223702-4027528876"


@pytest.fixture
def bh() -> Snapshot:
    return load_bloodhound([str(BH)], collected_at=datetime(2026, 12, 2, 1, tzinfo=UTC))


def test_sid_round_trip() -> None:
    for sid in ("S-1-5-32-544", f"{D}-1104", "S-1-5-18"):
        assert sid_text(sid_bytes(sid)) == sid
    assert sid_text(b"\x01") is None


def test_bloodhound_import(bh: Snapshot) -> None:
    assert bh.domain == "contoso.local"
    assert bh.netbios == "CONTOSO"
    assert bh.domain_sid == D
    kinds = [o.kind for o in bh.objects.values()]
    assert (kinds.count("user"), kinds.count("computer"), kinds.count("group")) == (12, 3, 9)
    assert bh.by_name("CONTOSO\\da.admin").sid == f"{D}-1104"  # type: ignore[union-attr]
    assert bh.by_name("ws2$").kind == "computer"  # type: ignore[union-attr]
    assert bh.local_admins["WS2"] == {f"{D}-512", f"{D}-1103"}
    assert "DC01" not in bh.local_admins  # LocalAdmins not collected on the DC
    assert (f"{D}-1104", "WS2", "2026-12-02T01:00:00+00:00", "bloodhound session") in bh.sessions
    assert [o.name for o in bh.domain_controllers()] == ["DC01"]
    assert "S-1-5-32-544" in bh.objects  # CONTOSO.LOCAL-S-1-5-32-544 -> S-1-5-32-544
    krbtgt = bh.objects[f"{D}-502"]
    assert "disabled" in krbtgt.flags()
    assert "no-preauth" in bh.by_name("legacy.app").flags()  # type: ignore[union-attr]


def test_sensitive_is_recursive(bh: Snapshot) -> None:
    sens = bh.sensitive()
    assert sens[f"{D}-1104"] == "member of Domain Admins"
    assert sens[f"{D}-1110"] == "member of Domain Admins"  # erin via Tier0 Operators
    assert sens[f"{D}-1105"] == "member of Account Operators"  # hd.admin
    assert sens[f"{D}-502"] == "built-in krbtgt"
    assert f"{D}-1106" not in sens  # alice
    assert f"{D}-1103" not in sens  # Helpdesk itself is not sensitive
    assert f"{D}-512" in bh.recursive_groups(f"{D}-1110")
    assert "S-1-5-32-544" in bh.recursive_groups(f"{D}-1110")  # Administrators <- Domain Admins


def test_resolver_is_fed(bh: Snapshot) -> None:
    r = Resolver()
    apply_to_resolver(r, bh, ["backup.admin"])
    assert r.dc_status("DC01")[0] is True
    assert r.sensitive_account(Account("erin", "CONTOSO", f"{D}-1110"))
    assert r.sensitive_account(Account("alice", "CONTOSO", f"{D}-1106")) is None
    assert r.is_honeytoken(Account("backup.admin"))
    grp = r.group_for_dn("CN=TIER0 OPERATORS,CN=USERS,DC=CONTOSO,DC=LOCAL")
    assert grp is not None
    assert grp.sid == f"{D}-1116"


def test_bloodhound_needs_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no BloodHound JSON"):
        load_bloodhound([str(tmp_path)])


def test_ldap_sync_full_and_incremental() -> None:
    conn = mock_connection()
    t = LdapTarget("mock", bind="x", base=BASE)
    snap, st = sync_ldap(t, conn=conn)
    assert st == {"read": 14, "deleted": 0, "incremental": 0, "objects": 14}
    assert snap.netbios == "CONTOSO"
    assert snap.domain_sid == DOM
    assert [o.name for o in snap.domain_controllers()] == ["DC01"]
    assert snap.by_name("WS1").spns == ["HOST/ws1.contoso.local"]  # type: ignore[union-attr]
    sens = snap.sensitive()
    assert sens[f"{DOM}-1110"] == "member of Domain Admins"  # nested, from member DNs
    assert sens[f"{DOM}-1105"] == "member of Account Operators"
    # one change above the last USN: only that object is read again
    conn.modify(f"CN=alice,CN=Users,{BASE}", {"uSNChanged": [("MODIFY_REPLACE", ["5000"])],
                                              "description": [("MODIFY_REPLACE", ["moved"])]})
    snap.highest_usn = 1200
    snap2, st2 = sync_ldap(t, previous=snap, conn=conn)
    assert st2["incremental"] == 1
    assert st2["read"] == 1
    assert st2["objects"] == 14
    assert snap2.by_name("alice").description == "moved"  # type: ignore[union-attr]
    assert snap2.sensitive()[f"{DOM}-1110"] == "member of Domain Admins"


def test_store_round_trip_keeps_manual_tags(tmp_path: Path, bh: Snapshot) -> None:
    store = Store(str(tmp_path / "d.db"))
    ds = DirectoryStore(store)
    assert ds.load_snapshot() is None
    ds.save_snapshot(bh, ["backup.admin"])
    back = ds.load_snapshot()
    assert back is not None
    assert back.to_dict()["objects"] == Snapshot.from_dict(bh.to_dict()).to_dict()["objects"]
    assert back.members == {g: m for g, m in bh.members.items() if m}
    assert back.local_admins == bh.local_admins
    assert len(ds.sessions()) == 4
    assert ds.tag("erin", "honeytoken")
    ds.save_snapshot(load_bloodhound([str(BH)]))  # a new sync keeps the manual tag
    assert "honeytoken" in ds.load_snapshot().by_name("erin").tags  # type: ignore[union-attr]
    ent = store.get_entity("user", "CONTOSO\\erin")
    assert ent is not None
    assert "sensitive" in ent["tags"]
    assert ent["evidence"] == "member of Domain Admins"
    dc = store.get_entity("computer", "DC01")
    assert dc is not None
    assert "domain-controller" in dc["tags"]
