"""CLI: directory import/show/tag, lmp, scan with a directory (sessions, report activities),
reports in xlsx and html, respond --dry-run errors."""

from __future__ import annotations

from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from tests.conftest import RECORDINGS

from dcwatch.cli import main
from dcwatch.store import Store
from dcwatch.store.directory import DirectoryStore

BH = Path(__file__).resolve().parent / "data" / "bloodhound"


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> str:
    for n in ("killchain", "ldap_recon", "user_added_to_admins"):
        if not (RECORDINGS / n / "dc.pcap").exists():
            pytest.skip("lab recordings not present")
    path = str(tmp_path_factory.mktemp("cli") / "d.db")
    r = CliRunner().invoke(main, ["directory", "import", str(BH), "--db", path,
                                  "--honeytoken", "backup.admin"])
    assert r.exit_code == 0, r.output
    assert "imported 24 object(s) of contoso.local" in r.output
    r = CliRunner().invoke(main, ["scan", *(str(RECORDINGS / n) for n in (
        "killchain", "ldap_recon", "user_added_to_admins")), "--db", path, "--format", "jsonl"])
    assert r.exit_code == 0, r.output
    assert "lateral_movement_paths" in r.output
    return path


def test_scan_keeps_sessions_and_report_activities(db: str) -> None:
    ds = DirectoryStore(Store(db))
    assert any(c == "WS1" and "TGT" in h for _, c, _, h in ds.sessions())
    binds = ds.activities(["ldap.bind"])
    assert {b.fields["name"] for b in binds} == {"alice@contoso.local",
                                                 "da.admin@contoso.local"}
    assert len(ds.activities(["group.member_added", "group.member_removed"])) == 4


def test_directory_show_and_lmp(db: str) -> None:
    r = CliRunner().invoke(main, ["directory", "show", "erin", "--db", db])
    assert "member of Domain Admins" in r.output
    assert "CONTOSO\\Tier0 Operators" in r.output
    r = CliRunner().invoke(main, ["lmp", "hd.admin", "--db", db])
    assert "is on a lateral movement path to CONTOSO\\Domain Admins via WS2" in r.output
    r = CliRunner().invoke(main, ["lmp", "--db", db, "--format", "json"])
    assert '"account":"CONTOSO\\\\da.admin"' in r.output
    r = CliRunner().invoke(main, ["directory", "show", "nobody", "--db", db])
    assert r.exit_code == 2


@pytest.mark.parametrize("name", ["summary", "sensitive-groups", "cleartext-passwords",
                                  "lateral-movement"])
def test_reports(db: str, tmp_path: Path, name: str) -> None:
    x = tmp_path / f"{name}.xlsx"
    r = CliRunner().invoke(main, ["report", name, "--db", db, "-o", str(x)])
    assert r.exit_code == 0, r.output
    wb = openpyxl.load_workbook(x)
    sheets = {ws.title: [[c.value for c in row] for row in ws.iter_rows()] for ws in wb}
    h = tmp_path / f"{name}.html"
    r = CliRunner().invoke(main, ["report", name, "--db", db, "--format", "html", "-o", str(h)])
    html = h.read_text()
    assert "<script" not in html
    if name == "summary":
        assert ["Incidents", 1] in sheets["Summary"]
    elif name == "sensitive-groups":
        changes = sheets["Changes"][1:]
        assert {(r[1], r[2], r[3]) for r in changes} >= {
            ("added", "Domain Admins", "eviluser2"), ("removed", "Administrators", "eviluser2")}
    elif name == "cleartext-passwords":
        summary = sheets["Summary"][1:]
        assert {(r[0], r[1], r[3]) for r in summary} == {
            ("alice@contoso.local", "no", "WS1"), ("da.admin@contoso.local", "yes", "WS1")}
    else:
        details = sheets["Details"][1:]
        assert "CONTOSO\\da.admin" in {r[0] for r in details}
        assert "CONTOSO\\da.admin" in html


def test_report_period_excludes(db: str, tmp_path: Path) -> None:
    x = tmp_path / "c.xlsx"
    CliRunner().invoke(main, ["report", "cleartext-passwords", "--db", db, "-o", str(x),
                              "--since", "2030-01-01"])
    wb = openpyxl.load_workbook(x)
    assert wb["Binds"].max_row == 1


def test_respond_needs_a_reachable_dc(tmp_path: Path) -> None:
    r = CliRunner().invoke(main, ["respond", "disable-user", "alice", "--server",
                                  "ldap://127.0.0.1:9", "--bind", "x@y", "--password", "p",
                                  "--dry-run"])
    assert r.exit_code == 2
    assert "dcwatch:" in r.output
