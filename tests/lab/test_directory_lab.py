"""Directory sync and response actions against the real Samba AD lab DC (lab/run.py).

Builds the lab (``lab/run.py --no-scenarios --keep``), runs ``dcwatch directory sync`` and
``dcwatch respond`` from the WS1 namespace against DC01 (10.77.0.10), checks the results over
LDAP, and tears the lab down. Needs root; runs only with DCW_LAB=1 (``sudo DCW_LAB=1 pytest -m
lab``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DCWATCH = str(Path(sys.executable).parent / "dcwatch")
SERVER = "ldap://10.77.0.10"
BIND = "Administrator@contoso.local"
PASSWORD = "LabAdm1n!2024"  # lab/run.py ADMIN_PASS

pytestmark = [
    pytest.mark.lab,
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("DCW_LAB") != "1", reason="set DCW_LAB=1 (needs root)"),
]


def _ws1(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "DCW_LDAP_PASSWORD": PASSWORD}
    r = subprocess.run(["ip", "netns", "exec", "dcw-ws1", *args], capture_output=True,
                       text=True, env=env, timeout=120)
    if check:
        assert r.returncode == 0, r.stdout + r.stderr
    return r


def _dcwatch(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return _ws1(DCWATCH, *args, check=check)


@pytest.fixture(scope="module")
def lab():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    r = subprocess.run([sys.executable, "lab/run.py", "--no-scenarios", "--keep"], cwd=REPO,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    try:
        yield
    finally:
        subprocess.run([sys.executable, "lab/run.py", "--down"], cwd=REPO, capture_output=True,
                       timeout=300)


def _attr(user: str, attr: str) -> str:
    code = ("import ldap3,sys;c=ldap3.Connection(ldap3.Server(sys.argv[1]),sys.argv[2],"
            "sys.argv[3],auto_bind=True);c.search('DC=contoso,DC=local',"
            "f'(sAMAccountName={sys.argv[4]})',attributes=[sys.argv[5]]);"
            "print(c.response[0]['raw_attributes'][sys.argv[5]][0].decode())")
    return _ws1(sys.executable, "-c", code, SERVER, BIND, PASSWORD, user, attr).stdout.strip()


def _members(group: str) -> str:
    code = ("import ldap3,sys;c=ldap3.Connection(ldap3.Server(sys.argv[1]),sys.argv[2],"
            "sys.argv[3],auto_bind=True);c.search('DC=contoso,DC=local',"
            "f'(sAMAccountName={sys.argv[4]})',attributes=['member']);"
            "print([m.decode() for m in c.response[0]['raw_attributes'].get('member',[])])")
    return _ws1(sys.executable, "-c", code, SERVER, BIND, PASSWORD, group).stdout


def test_sync_full_then_incremental(lab, tmp_path: Path) -> None:
    db = str(tmp_path / "lab.db")
    r = _dcwatch("directory", "sync", "--server", SERVER, "--bind", BIND, "--db", db,
                 "--honeytoken", "backup.admin")
    assert "full sync of contoso.local" in r.stderr
    assert "1 DC(s)" in r.stderr
    r = _dcwatch("directory", "show", "hd.admin", "--db", db)
    assert "member of Account Operators" in r.stdout
    assert "CONTOSO\\Helpdesk" in r.stdout
    r = _dcwatch("directory", "show", "legacy.app", "--db", db)
    assert "no-preauth" in r.stdout
    r = _dcwatch("directory", "show", "svc_sql", "--db", db)
    assert "MSSQLSvc/sql01.contoso.local:1433" in r.stdout
    r = _dcwatch("directory", "sync", "--server", SERVER, "--bind", BIND, "--db", db)
    assert "incremental sync" in r.stderr
    assert "read 0 object(s)" in r.stderr
    # a change on the DC shows up in the next incremental sync
    _dcwatch("respond", "disable-user", "erin", "--server", SERVER, "--bind", BIND, "--yes",
             "--db", db)
    r = _dcwatch("directory", "sync", "--server", SERVER, "--bind", BIND, "--db", db)
    assert "read 1 object(s)" in r.stderr
    r = _dcwatch("directory", "show", "erin", "--db", db)
    assert "disabled" in r.stdout


def test_response_actions_on_the_dc(lab, tmp_path: Path) -> None:
    db = str(tmp_path / "audit.db")
    common = ["--server", SERVER, "--bind", BIND, "--db", db, "--actor", "lab-test"]
    before = _attr("dave", "userAccountControl")
    r = _dcwatch("respond", "disable-user", "dave", *common, "--dry-run")
    assert "[dry run]" in r.stdout
    assert _attr("dave", "userAccountControl") == before
    _dcwatch("respond", "disable-user", "dave", *common, "--yes")
    assert int(_attr("dave", "userAccountControl")) & 2
    _dcwatch("respond", "enable-user", "dave", *common, "--yes")
    assert not int(_attr("dave", "userAccountControl")) & 2
    _dcwatch("respond", "force-password-reset", "bob", *common, "--yes")
    assert _attr("bob", "pwdLastSet") == "0"
    assert "hd.admin" in _members("Helpdesk")
    _dcwatch("respond", "remove-from-group", "hd.admin", "Helpdesk", *common, "--yes")
    assert "hd.admin" not in _members("Helpdesk")
    r = _dcwatch("respond", "disable-user", "krbtgt", *common, "--yes", check=False)
    assert r.returncode == 2
    assert "never changed" in r.stderr
    from dcwatch.store import Store
    from dcwatch.store.portal import Portal

    rows, _ = Portal(Store(db)).audit_entries()
    assert {r["action"] for r in rows} >= {"respond.disable-user", "respond.enable-user",
                                           "respond.force-password-reset",
                                           "respond.remove-from-group"}
    assert all(r["actor"] == "lab-test" for r in rows)
