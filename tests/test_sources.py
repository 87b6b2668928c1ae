"""Inputs: JSON dialects per record, archives read in place, unknown files, malformed records."""

from __future__ import annotations

import gzip
import io
import json
import tarfile
import zipfile
from pathlib import Path

import pytest
from tests.conftest import shared_file

from dcwatch.model.activity import ActivityKind as K
from dcwatch.pipeline import ActivityStream
from dcwatch.sources.base import SourceStats
from dcwatch.sources.jsonl import read_json

DCSYNC_4662 = {  # one 4662 with replication rights, in each export dialect
    "SubjectUserSid": "S-1-5-21-1-2-3-1105", "SubjectUserName": "alice",
    "SubjectDomainName": "CONTOSO", "SubjectLogonId": "0x42", "ObjectServer": "DS",
    "ObjectType": "%{19195a5b-6da0-11d0-afd3-00c04fd930c9}", "AccessMask": "0x100",
    "Properties": "%%7688 {1131f6ad-9c07-11d1-f79f-00c04fc2dcd2}",
}


def evtx_dump_line() -> dict:
    return {"Event": {"System": {
        "Provider": {"#attributes": {"Name": "Microsoft-Windows-Security-Auditing"}},
        "EventID": 4662, "TimeCreated": {"#attributes": {"SystemTime":
                                                         "2026-01-01T10:00:00.1234567Z"}},
        "EventRecordID": 11, "Channel": "Security", "Computer": "DC01.contoso.local"},
        "EventData": DCSYNC_4662}}


def nxlog_line() -> dict:
    return {**DCSYNC_4662, "EventID": 4662, "Channel": "security",
            "Hostname": "DC01.contoso.local", "SourceName": "Microsoft-Windows-Security-Auditing",
            "EventTime": "2026-01-01 06:00:00", "EventReceivedTime": "2026-01-01 06:00:01",
            "@timestamp": "2026-01-01T10:00:02.000Z", "RecordNumber": 11}


def winlogbeat6_line() -> dict:
    return {"@timestamp": "2026-01-01T10:00:00.000Z", "event_id": 4662, "log_name": "Security",
            "computer_name": "DC01.contoso.local",
            "source_name": "Microsoft-Windows-Security-Auditing", "record_number": "11",
            "event_data": DCSYNC_4662}


def ecs_line() -> dict:
    return {"@timestamp": "2026-01-01T10:00:00.000Z", "host": {"name": "dc01"},
            "winlog": {"event_id": "4662", "channel": "Security",
                       "computer_name": "DC01.contoso.local",
                       "provider_name": "Microsoft-Windows-Security-Auditing",
                       "record_id": 11, "event_data": DCSYNC_4662}}


@pytest.mark.parametrize(("make", "fmt"), [(evtx_dump_line, "json-evtx"),
                                           (nxlog_line, "json-nxlog"),
                                           (winlogbeat6_line, "json-winlogbeat"),
                                           (ecs_line, "json-ecs")])
def test_json_dialects_give_the_same_activity(make, fmt: str) -> None:
    st = SourceStats("x")
    acts = list(read_json([json.dumps(make()).encode()], "x.json", st))
    assert st.skipped == 0
    assert len(acts) == 1
    a = acts[0]
    assert a.kind is K.DS_ACCESS
    assert a.origin.format == fmt
    assert a.host == "DC01.contoso.local"
    assert a.actor is not None
    assert a.actor.name == "alice"
    assert a.fields["properties"] == ["1131f6ad-9c07-11d1-f79f-00c04fc2dcd2"]
    assert a.ts.isoformat().startswith("2026-01-01T10:00:0")


def test_same_record_from_evtx_json_and_winlogbeat_dedups(tmp_path: Path) -> None:
    (tmp_path / "a.jsonl").write_text(json.dumps(evtx_dump_line()) + "\n")
    (tmp_path / "b.jsonl").write_text(json.dumps(winlogbeat6_line()) + "\n")
    s = ActivityStream([str(tmp_path)])
    acts = list(s)
    # evtx_dump has 7-digit fractions and winlogbeat milliseconds: same second, different
    # microseconds, so they are two records unless times match exactly.
    assert len(acts) + s.duplicates == 2


def test_json_array_and_pretty_object(tmp_path: Path) -> None:
    p = tmp_path / "arr.json"
    p.write_text(json.dumps([evtx_dump_line(), evtx_dump_line()], indent=2))
    s = ActivityStream([str(p)])
    acts = list(s)
    assert len(acts) == 1
    assert s.duplicates == 1


def test_malformed_json_lines_are_counted(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text(json.dumps(nxlog_line()) + "\n{not json\n[1,2]\n" +
                 json.dumps({"foo": 1}) + "\n")
    s = ActivityStream([str(p)])
    acts = list(s)
    st = s.stats[0]
    assert len(acts) == 1
    assert st.skipped == 3
    assert st.first_error
    assert "line 2" in st.first_error


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_archives_are_read_in_place(tmp_path: Path) -> None:
    line = (json.dumps(nxlog_line()) + "\n").encode()
    (tmp_path / "a.zip").write_bytes(_zip_bytes({"x/host.json": line,
                                                 "__MACOSX/x/._host.json": b"junk"}))
    tbuf = io.BytesIO()
    with tarfile.open(fileobj=tbuf, mode="w:gz") as t:
        info = tarfile.TarInfo("d/host.json")
        info.size = len(line)
        t.addfile(info, io.BytesIO(line))
    (tmp_path / "b.tar.gz").write_bytes(tbuf.getvalue())
    (tmp_path / "c.json.gz").write_bytes(gzip.compress(line))
    (tmp_path / "README.md").write_text("not an input")
    before = sorted(p.name for p in tmp_path.iterdir())
    s = ActivityStream([str(tmp_path)])
    list(s)
    names = sorted(st.name.split(str(tmp_path))[-1] for st in s.stats)
    assert names == ["/a.zip!x/host.json", "/b.tar.gz!d/host.json", "/c.json"]
    assert sum(st.activities for st in s.stats) == 3
    assert any("README.md" in w and "not a recognised input" in w for w in s.warnings)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing extracted


def test_corrupt_zip_is_reported(tmp_path: Path) -> None:
    p = tmp_path / "bad.zip"
    p.write_bytes(b"PK\x03\x04" + b"\x00" * 50)
    s = ActivityStream([str(p)])
    assert list(s) == []
    assert any("corrupt zip" in w for w in s.warnings)


def test_real_evtx_and_nxlog_archive() -> None:
    p = shared_file("evtx-attack-samples/Credential_Access/CA_DCSync_4662.evtx")
    s = ActivityStream([str(p)])
    acts = list(s)
    assert [a.kind for a in acts] == [K.DS_ACCESS] * 3
    assert s.stats[0].format == "evtx"
    z = shared_file("otrf-dev/credential_access/host/covenant_dcsync_dcerpc_drsuapi_"
                    "DsGetNCChanges.zip")
    s = ActivityStream([str(z)])
    acts = list(s)
    assert s.stats[0].format == "json-nxlog"
    assert s.stats[0].skipped == 0
    assert any(a.kind is K.DS_ACCESS for a in acts)
    assert [a.ts for a in acts] == sorted(a.ts for a in acts)


def test_winlogbeat_tar_gz() -> None:
    p = shared_file("otrf-dev/defense_evasion/host/empire_wdigest_downgrade.tar.gz")
    s = ActivityStream([str(p)])
    list(s)
    assert s.stats
    assert s.stats[0].format == "json-winlogbeat"
    assert s.stats[0].records > 1000


def test_samba_simple_bind_over_tls_has_no_workstation() -> None:
    """Samba names itself as the workstation of every LDAP simple bind, over LDAPS too."""
    from dcwatch.model.activity import Origin
    from dcwatch.sources import samba

    rec = {"timestamp": "2026-12-02T03:33:11.486224+0000", "type": "Authentication",
           "Authentication": {"status": "NT_STATUS_OK", "localAddress": "ipv4:10.77.0.10:636",
                              "remoteAddress": "ipv4:10.77.0.21:39323",
                              "serviceDescription": "LDAP", "authDescription": "simple bind/TLS",
                              "clientDomain": "CONTOSO", "clientAccount": "hd.admin",
                              "workstation": "DC01", "becameAccount": "hd.admin",
                              "becameDomain": "CONTOSO", "passwordType": "Plaintext"}}
    (act,) = samba.to_activities(rec, Origin("a.jsonl", 1, "samba"))
    assert act.fields.get("workstation") is None
    assert act.src_host is None
    rec["Authentication"]["authDescription"] = "NTLMSSP"
    (ntlm,) = samba.to_activities(rec, Origin("a.jsonl", 2, "samba"))
    assert ntlm.fields["workstation"] == "DC01"


def test_samba_new_object_added_to_itself_is_not_a_membership() -> None:
    """On every user/computer creation Samba writes a groupChange "Added" whose group is the
    new object itself, next to the real PrimaryGroup record."""
    from dcwatch.model.activity import Origin
    from dcwatch.sources import samba

    dn = "CN=CERTPC,CN=Computers,DC=contoso,DC=local"
    rec = {"timestamp": "2026-12-02T03:36:04.499899+0000", "type": "groupChange",
           "groupChange": {"eventId": 4728, "statusCode": 0, "action": "Added",
                           "remoteAddress": "ipv4:10.77.0.21:59593",
                           "userSid": "S-1-5-21-1-2-3-1105", "group": dn, "user": dn}}
    assert samba.to_activities(rec, Origin("a.jsonl", 1, "samba")) == []
    rec["groupChange"]["group"] = "CN=Helpdesk,CN=Users,DC=contoso,DC=local"
    (act,) = samba.to_activities(rec, Origin("a.jsonl", 2, "samba"))
    assert act.kind is K.GROUP_MEMBER_ADDED


def test_samba_security_descriptor_becomes_sddl_and_says_it_was_cut() -> None:
    import base64
    import struct

    from dcwatch.model.activity import Origin
    from dcwatch.sources import samba

    sid = bytes([1, 1]) + (5).to_bytes(6, "big") + struct.pack("<I", 18)  # S-1-5-18
    ace = struct.pack("<BBHI", 0, 0, 8 + len(sid), 0xF01FF) + sid
    acl = struct.pack("<BBHHH", 2, 0, 8 + len(ace), 1, 0) + ace
    sd = struct.pack("<BBHIIII", 1, 0, 0x8004, 0, 0, 0, 20) + acl
    rec = {"timestamp": "2026-12-02T03:36:07.294477+0000", "type": "dsdbChange",
           "dsdbChange": {"statusCode": 0, "operation": "Modify",
                          "remoteAddress": "ipv4:10.77.0.21:43547",
                          "userSid": "S-1-5-21-1-2-3-1104",
                          "dn": "CN=AdminSDHolder,CN=System,DC=contoso,DC=local",
                          "attributes": {"nTSecurityDescriptor": {"actions": [
                              {"action": "replace", "values": [
                                  {"truncated": True, "base64": True,
                                   "value": base64.b64encode(sd).decode().rstrip("=")}]}]}}}}
    (act,) = samba.to_activities(rec, Origin("a.jsonl", 1, "samba"))
    assert act.fields["values"]["nTSecurityDescriptor"] == [
        "replace:D:(A;;0xf01ff;;;S-1-5-18) [truncated by the Samba audit log]"]
