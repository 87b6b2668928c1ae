"""DCE/RPC over TCP and SMB pipes: OTRF captures against tshark oracles.

Exceptions (explained, not hidden):
* tshark lists every context item of a bind (NDR20, NDR64 and the bind-time-feature pseudo
  UUID 6cb71c2c-...); dcwatch emits one ``rpc.bind`` per interface, so UUID *sets* are compared
  after dropping the bind-time-feature item.
* tshark shows the opnum on every request fragment; dcwatch reports a call once, at its last
  fragment (the frame where tshark shows the reassembled stub), so extra tshark frames must be
  earlier fragments of a reported call with the same opnum.
* tshark prints the EPM map-request tower's port (135) on request frames; only response ports
  are endpoints.
"""

from __future__ import annotations

from collections import Counter

import pytest

from .oracle_util import NAMES, by_frame, frames_with, oracle, run_or_skip

BTFN = "6cb71c2c-9812-4540-"


@pytest.mark.parametrize("name", NAMES)
def test_request_opnums_match_tshark(name: str) -> None:
    r = run_or_skip(name)
    expected = frames_with(oracle(name), "dcerpc.opnum", dcerpc__pkt_type="0")
    calls = by_frame(r, "rpc.call")
    want = {f: Counter(int(x) for x in row["dcerpc.opnum"]) for f, row in expected.items()}
    got = {f: Counter(a.fields["opnum"] for a in v) for f, v in calls.items()}
    assert {f: want.get(f) for f in got} == got
    for f in set(want) - set(got):  # earlier fragments of a multi-fragment request
        later = [
            a
            for g, v in calls.items()
            if g > f
            for a in v
            if a.fields["fragments"] > 1 and a.fields["opnum"] in want[f]
        ]
        assert later, f"frame {f}: tshark request {want[f]} not reported"


@pytest.mark.parametrize("name", NAMES)
def test_bind_interfaces_match_tshark(name: str) -> None:
    r = run_or_skip(name)
    o = oracle(name)
    binds = by_frame(r, "rpc.bind")
    want = {}
    for f, row in frames_with(o, "dcerpc.cn_bind_to_uuid").items():
        if set(row["dcerpc.pkt_type"]) & {"11", "14"}:
            want[f] = {u for u in row["dcerpc.cn_bind_to_uuid"] if not u.startswith(BTFN)}
    got = {f: {a.fields["interface_uuid"] for a in v} for f, v in binds.items()}
    assert got == want


@pytest.mark.parametrize("name", NAMES)
def test_svcctl_args_match_tshark(name: str) -> None:
    r = run_or_skip(name)
    calls = by_frame(r, "rpc.call")
    o = oracle(name)
    checked = 0
    for field, arg in (
        ("svcctl.servicename", "service"),
        ("svcctl.binarypathname", "binary_path"),
        ("svcctl.machinename", "machine"),
    ):
        for f, row in frames_with(o, field, dcerpc__pkt_type="0").items():
            args = calls[f][0].fields["args"]
            assert [args[arg]] == row[field], (f, field)
            checked += 1
    if name.startswith(("smbexec", "sc_query")):
        assert checked >= 2


@pytest.mark.parametrize("name", NAMES)
def test_epm_ports_match_tshark(name: str) -> None:
    r = run_or_skip(name)
    ports = {
        int(p)
        for row in frames_with(oracle(name), "epm.proto.tcp_port", dcerpc__pkt_type="2").values()
        for p in row["epm.proto.tcp_port"]
    }
    assert {port for (_ip, port) in r.context.rpc_ports} == ports


def test_samr_enumeration_decoded() -> None:
    r = run_or_skip("samr")
    o = oracle("samr")
    calls = by_frame(r, "rpc.call")
    for f, row in frames_with(
        o, "samr.samr_LookupDomain.domain_name", dcerpc__pkt_type="0"
    ).items():
        assert [calls[f][0].fields["args"]["domain"]] == row["samr.samr_LookupDomain.domain_name"]
    ops = [a.fields["operation"] for v in calls.values() for a in v]
    assert "SamrEnumerateUsersInDomain" in ops
    enum = next(
        a
        for v in calls.values()
        for a in v
        if a.fields["operation"] == "SamrEnumerateUsersInDomain"
    )
    assert enum.outcome == "success"
    assert enum.fields["args"]["count"] == len(enum.fields["args"]["names"]) > 0
    assert enum.fields["args"]["handle_of"].startswith("S-1-5-21-")


def test_dcsync_is_sealed_kerberos_drsuapi() -> None:
    r = run_or_skip("dcsync")
    calls = [
        a for a in r.activities if a.kind.value == "rpc.call" and a.fields["interface"] == "drsuapi"
    ]
    assert "IDL_DRSGetNCChanges" in [a.fields["operation"] for a in calls]
    assert all(a.fields["sealed"] for a in calls)
    assert {a.fields["auth_level"] for a in calls} == {"privacy"}
    ap = [
        a
        for a in r.activities
        if a.kind.value == "kerberos.ap_request" and a.fields["via"] == "dcerpc"
    ]
    assert ap
    assert ap[0].fields["service"].lower().startswith("ldap/")


def test_smbexec_create_service() -> None:
    r = run_or_skip("smbexec_ws5")
    create = [
        a
        for a in r.activities
        if a.kind.value == "rpc.call" and a.fields["operation"] == "RCreateServiceW"
    ]
    assert len(create) == 1
    a = create[0]
    assert a.fields["fragments"] == 3
    assert a.fields["args"]["binary_path"].startswith("%COMSPEC% /C")
    assert a.fields["pipe"] == "svcctl"
    assert a.outcome == "success"
    start = next(
        x
        for x in r.activities
        if x.kind.value == "rpc.call" and x.fields["operation"] == "RStartServiceW"
    )
    assert start.fields["args"]["handle_of"] == a.fields["args"]["service"]


def test_activities_are_json_serializable() -> None:
    import json

    for name in NAMES:
        for a in run_or_skip(name).activities:
            json.dumps(a.to_dict())


@pytest.mark.tshark
@pytest.mark.slow
def test_committed_oracles_match_live_tshark() -> None:
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    if shutil.which("tshark") is None:
        pytest.skip("tshark is not installed")
    run_or_skip("samr")  # skips when ../shared/data is absent
    script = Path(__file__).resolve().parents[2] / "scripts" / "make_tshark_oracles_smb_rpc.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--check"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr
