"""Response actions over LDAP, against an ldap3 MOCK_SYNC directory."""

from __future__ import annotations

import pytest
from tests.entities.mockdir import BASE, mock_connection, user_dn

from dcwatch.entities.respond import ResponseError, run_action


def _attr(conn, dn: str, name: str) -> list:
    conn.search(dn, "(objectClass=*)", search_scope="BASE", attributes=[name])
    return conn.response[0]["attributes"].get(name)


def test_dry_run_changes_nothing() -> None:
    conn = mock_connection()
    res = run_action(conn, "disable-user", "alice", base=BASE)
    assert res.dry_run
    assert not res.done
    assert [(c.attribute, c.old, c.new) for c in res.changes] == [
        ("userAccountControl", 512, 514)]
    assert str(_attr(conn, user_dn("alice"), "userAccountControl")) in ("512", "['512']")


def test_disable_enable_and_idempotence() -> None:
    conn = mock_connection()
    res = run_action(conn, "disable-user", "CONTOSO\\alice", dry_run=False, base=BASE)
    assert res.done
    assert "514" in str(_attr(conn, user_dn("alice"), "userAccountControl"))
    again = run_action(conn, "disable-user", "alice", dry_run=False, base=BASE)
    assert again.changes == []
    assert again.message == "already disabled"
    run_action(conn, "enable-user", "alice", dry_run=False, base=BASE)
    assert "512" in str(_attr(conn, user_dn("alice"), "userAccountControl"))


def test_force_password_reset() -> None:
    conn = mock_connection()
    res = run_action(conn, "force-password-reset", "alice@contoso.local", dry_run=False,
                     base=BASE)
    assert res.changes[0].new == 0
    assert str(_attr(conn, user_dn("alice"), "pwdLastSet")) in ("0", "['0']")


def test_remove_from_group() -> None:
    conn = mock_connection()
    res = run_action(conn, "remove-from-group", "hd.admin", "Helpdesk", dry_run=False,
                     base=BASE)
    assert res.done
    helpdesk = f"CN=Helpdesk,CN=Users,{BASE}"
    assert user_dn("hd.admin") not in (_attr(conn, helpdesk, "member") or [])
    nested = run_action(conn, "remove-from-group", "erin", "Domain Admins", base=BASE)
    assert "not a direct member" in nested.message
    with pytest.raises(ResponseError, match="primary group"):
        run_action(conn, "remove-from-group", "alice", "Domain Users", base=BASE)


def test_protected_accounts() -> None:
    conn = mock_connection()
    with pytest.raises(ResponseError, match="krbtgt"):
        run_action(conn, "disable-user", "krbtgt", base=BASE)
    with pytest.raises(ResponseError, match="needs --force"):
        run_action(conn, "disable-user", "Administrator", base=BASE)
    assert run_action(conn, "disable-user", "Administrator", force=True, base=BASE).changes
    with pytest.raises(ResponseError, match="no user named"):
        run_action(conn, "disable-user", "nobody", base=BASE)
    with pytest.raises(ResponseError, match="unknown action"):
        run_action(conn, "delete-user", "alice", base=BASE)
