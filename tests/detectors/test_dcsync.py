"""2006 DCSync: real recordings (fires / stays quiet) and edge cases."""

from __future__ import annotations

from tests.conftest import shared_file
from tests.helpers import act, user

from dcwatch.detectors.engine import Engine
from dcwatch.model.activity import Account
from dcwatch.model.activity import ActivityKind as K
from dcwatch.pipeline import ScanOptions, scan

REPL = ["1131f6aa-9c07-11d1-f79f-00c04fc2dcd2"]


def ids(path: str) -> list[tuple[int, str]]:
    return [(a.external_id, a.description) for a in scan(ScanOptions([path])).alerts]


def test_fires_on_4662_by_a_user() -> None:
    got = ids(str(shared_file("evtx-attack-samples/Credential_Access/CA_DCSync_4662.evtx")))
    assert got == [(2006, "insecurebank\\Administrator successfully ran malicious directory "
                          "replication requests against DC1.")]


def test_fires_on_nxlog_with_source_from_logon_session() -> None:
    p = shared_file("otrf-dev/credential_access/host/covenant_dcsync_dcerpc_drsuapi_"
                    "DsGetNCChanges.zip")
    alerts = [a for a in scan(ScanOptions([str(p)])).alerts if a.external_id == 2006]
    assert len(alerts) == 1
    a = alerts[0]
    assert "pgustavo" in a.description
    assert "MORDORDC" in a.description
    assert a.evidence["source_ip"] == "172.18.39.5"
    assert {e.role for e in a.entities} >= {"attacker", "target domain controller"}


def test_quiet_on_acl_and_dcshadow_traps() -> None:
    for rel in ("evtx-attack-samples/Persistence/DACL_DCSync_Right_Powerview__Add-"
                "DomainObjectAcl.evtx",
                "evtx-attack-samples/Persistence/persistence_security_dcshadow_4742.evtx",
                "evtx-attack-samples/Credential_Access/ACL_ForcePwd_SPNAdd_User_Computer_"
                "Accounts.evtx"):
        assert 2006 not in {i for i, _ in ids(str(shared_file(rel)))}


def test_needs_control_access_and_replication_right() -> None:
    e = Engine(slugs=["dcsync"])
    alerts = e.run([
        act(K.DS_ACCESS, 0, actor=user("bob"), fields={"object_server": "DS",
                                                       "access_mask": 0x40000,  # WRITE_DAC
                                                       "properties": REPL}),
        act(K.DS_ACCESS, 1, actor=user("bob"), fields={"object_server": "DS",
                                                       "access_mask": 0x100,
                                                       "properties": ["bf967a86-0de6-11d0-"
                                                                      "a285-00aa003049e2"]}),
    ])
    assert alerts == []


def test_wire_request_from_a_non_dc() -> None:
    e = Engine(slugs=["dcsync"])
    alerts = e.run([
        act(K.KERBEROS_AS, 0, host="10.0.0.10", protocol="kerberos", dst_ip="10.0.0.10",
            src_ip="10.0.0.21", actor=Account("WS1$", "CORP"), outcome="success"),
        act(K.RPC_CALL, 5, host="10.0.0.10", protocol="dcerpc", src_ip="10.0.0.21",
            dst_ip="10.0.0.10", actor=user("da.admin"), outcome="success",
            fields={"interface": "drsuapi", "opnum": 3, "operation": "DRSGetNCChanges"}),
        # a DC replicating with the DC is normal
        act(K.RPC_CALL, 6, host="10.0.0.10", protocol="dcerpc", src_ip="10.0.0.10",
            dst_ip="10.0.0.11", actor=Account("DC01$", "CORP"), outcome="success",
            fields={"interface": "drsuapi", "opnum": 3}),
    ])
    assert len(alerts) == 1
    a = alerts[0]
    assert a.description == ("CONTOSO\\da.admin on WS1 successfully ran malicious directory "
                             "replication requests against 10.0.0.10.")
