"""The command-line contract: output shape, exit codes, messages, the store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from dcwatch.cli import main

REPO = Path(__file__).resolve().parents[1]
DEMO = REPO / "tests" / "data" / "demo" / "killchain.jsonl"
ALERT_KEYS = {"id", "type", "external_id", "title", "description", "severity", "phase",
              "status", "first_seen", "last_seen", "entities", "evidence", "activities"}


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dcwatch.cli", *args], capture_output=True,
                          text=True, cwd=REPO, timeout=120)


def test_scan_jsonl_contract() -> None:
    r = run("scan", str(DEMO), "--format", "jsonl")
    assert r.returncode == 0, r.stderr
    alerts = [json.loads(line) for line in r.stdout.splitlines()]
    assert {a["external_id"] for a in alerts} >= {2006, 2024, 2026}
    for a in alerts:
        assert set(a) >= ALERT_KEYS
        assert isinstance(a["external_id"], int)
        assert a["status"] == "open"
        assert a["activities"], "every alert carries its activity log"
        for e in a["entities"]:
            assert {"kind", "name", "role"} <= set(e)
    svc = next(a for a in alerts if a["external_id"] == 2026)
    assert "net user support_tmp" in svc["activities"][0]["fields"]["image_path"]
    assert "read 1 input(s), 18 record(s)" in r.stderr


def test_scan_json_and_table() -> None:
    r = run("scan", str(DEMO), "--format", "json", "--no-activities")
    assert r.returncode == 0
    data = json.loads(r.stdout)
    assert len(data) >= 4
    assert all(a["activities"] == [] for a in data)
    t = CliRunner().invoke(main, ["scan", str(DEMO), "--format", "table"])
    assert t.exit_code == 0
    assert "Suspected DCSync attack" in t.output


def test_missing_path_exits_2() -> None:
    r = run("scan", "/nonexistent/x.evtx")
    assert r.returncode == 2
    assert "no such file or directory" in r.stderr
    assert "Traceback" not in r.stderr


def test_bad_input_is_counted_not_a_traceback(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl"
    p.write_text(DEMO.read_text().splitlines()[0] + "\n{broken\n")
    r = run("scan", str(p), "--format", "jsonl")
    assert r.returncode == 0
    assert "skipped 1 malformed record(s)" in r.stderr
    assert "Traceback" not in r.stderr
    r = run("scan", str(p), "--strict")
    assert r.returncode == 1


def test_unrecognised_file_given_directly(tmp_path: Path) -> None:
    p = tmp_path / "notes.txt"
    p.write_text("hello")
    r = run("scan", str(p))
    assert r.returncode == 2
    assert "not a recognised input" in r.stderr


def test_activities_view() -> None:
    r = run("activities", str(DEMO))
    assert r.returncode == 0
    acts = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(acts) == 18
    assert [a["ts"] for a in acts] == sorted(a["ts"] for a in acts)
    assert {a["kind"] for a in acts} >= {"kerberos.as_request", "service.installed",
                                         "ds.object_access", "group.member_added"}


def test_store_rescan_creates_no_duplicates(tmp_path: Path) -> None:
    db = tmp_path / "a.db"
    counts = []
    for _ in range(2):
        r = run("scan", str(DEMO), "--db", str(db), "--format", "jsonl")
        assert r.returncode == 0, r.stderr
        counts.append(len(r.stdout.splitlines()))
    r = run("alerts", "list", "--db", str(db), "--format", "jsonl")
    assert r.returncode == 0
    alerts = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(alerts) == counts[0] == counts[1]
    assert len({a["id"] for a in alerts}) == len(alerts)
    one = alerts[0]["id"]
    r = run("alerts", "show", one, "--db", str(db))
    shown = json.loads(r.stdout)[0]
    assert shown["id"] == one
    assert shown["activities"]
    ids = [a["uid"] for a in shown["activities"]]
    assert len(ids) == len(set(ids))


def test_alerts_show_unknown(tmp_path: Path) -> None:
    r = run("scan", str(DEMO), "--db", str(tmp_path / "a.db"))
    r = run("alerts", "show", "nope", "--db", str(tmp_path / "a.db"))
    assert r.returncode == 2
    assert "no alert nope" in r.stderr


@pytest.mark.parametrize("flag", [["--threshold", "dcsync=extreme"],
                                  ["--exclude", "bad"], ["--detector", "no-such"],
                                  ["--tunable", "dcsync"], ["--tunable", "no-such.x=1"],
                                  ["--tunable", "adfs-dkm-key-read.nope=1"],
                                  ["--tunable", "adfs-dkm-key-read.observe=1"]])
def test_usage_errors_exit_2(flag: list[str]) -> None:
    r = run("scan", str(DEMO), *flag)
    assert r.returncode == 2


def test_exclusion_drops_alert() -> None:
    r = run("scan", str(DEMO), "--format", "jsonl", "--exclude", "dcsync:user:da.admin")
    ids = {json.loads(line)["external_id"] for line in r.stdout.splitlines()}
    assert 2006 not in ids
    assert 2026 in ids


def test_tunable_configures_a_detector() -> None:
    rec = REPO / "tests" / "data" / "recordings" / "adfs_dkm_key_read" / "dc.pcap"
    flag = "adfs-dkm-key-read.service_accounts=CONTOSO\\svc_adfs,svc_other"

    def actors(*extra: str) -> list[str]:
        r = run("scan", str(rec), "--format", "jsonl", "--no-activities",
                "--detector", "adfs-dkm-key-read", *extra)
        assert r.returncode == 0, r.stderr
        return sorted(e["name"].rpartition("\\")[2] for line in r.stdout.splitlines()
                      for e in json.loads(line)["entities"] if e["role"] == "actor")

    assert actors() == ["da.admin", "svc_adfs"]
    assert actors("--tunable", flag) == ["da.admin"]


def test_version_and_detectors() -> None:
    assert run("version").stdout.startswith("dcwatch ")
    out = run("detectors").stdout
    assert "2006\tdcsync" in out
