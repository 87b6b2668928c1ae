"""Stub decoders against requests/responses marshalled by impacket's NDR engine (an independent
implementation of the same IDLs). Hand-built bytes where impacket has no module (EFSR, DFSNM)."""

from __future__ import annotations

import struct

import pytest

from dcwatch.protocols.dcerpc import stubs
from dcwatch.protocols.dcerpc.ndr import NdrReader

pytest.importorskip("impacket")
from impacket.dcerpc.v5 import (
    atsvc,
    bkrp,
    drsuapi,
    nrpc,
    par,
    rprn,
    samr,
    scmr,
    srvs,
    tsch,
)
from impacket.dcerpc.v5.dtypes import NULL

H = b"\x01" * 20


def req(iface: str, opnum: int, data: bytes) -> dict:
    dec = stubs.request_decoder(iface, opnum)
    assert dec is not None
    return dec(NdrReader(data))


def resp(iface: str, opnum: int, data: bytes) -> dict:
    dec = stubs.response_decoder(iface, opnum)
    assert dec is not None
    return dec(NdrReader(data))


def test_svcctl_create_start_change() -> None:
    r = scmr.RCreateServiceW()
    r["hSCManager"] = H
    r["lpServiceName"] = "evil\x00"
    r["lpDisplayName"] = "Evil svc\x00"
    r["dwDesiredAccess"] = 0xF01FF
    r["dwServiceType"] = 0x10
    r["dwStartType"] = 3
    r["dwErrorControl"] = 0
    r["lpBinaryPathName"] = "cmd.exe /c whoami\x00"
    for k in (
        "lpLoadOrderGroup",
        "lpdwTagId",
        "lpDependencies",
        "lpServiceStartName",
        "lpPassword",
    ):
        r[k] = NULL
    r["dwDependSize"] = r["dwPwSize"] = 0
    out = req("svcctl", 12, r.getData())
    assert out["service"] == "evil"
    assert out["display_name"] == "Evil svc"
    assert out["binary_path"] == "cmd.exe /c whoami"
    assert out["start_type"] == "demand"
    o = scmr.ROpenSCManagerW()
    o["lpMachineName"] = "DC01\x00"
    o["lpDatabaseName"] = "ServicesActive\x00"
    o["dwDesiredAccess"] = 0xF003F
    assert req("svcctl", 15, o.getData())["machine"] == "DC01"
    s = scmr.RStartServiceW()
    s["hService"] = H
    s["argc"] = 0
    s["argv"] = NULL
    assert req("svcctl", 19, s.getData())["argc"] == 0
    c = scmr.RChangeServiceConfigW()
    c["hService"] = H
    c["dwServiceType"] = c["dwStartType"] = c["dwErrorControl"] = 0xFFFFFFFF
    c["lpBinaryPathName"] = "C:\\evil.exe\x00"
    for k in (
        "lpLoadOrderGroup",
        "lpdwTagId",
        "lpDependencies",
        "lpServiceStartName",
        "lpPassword",
        "lpDisplayName",
    ):
        c[k] = NULL
    c["dwDependSize"] = c["dwPwSize"] = 0
    assert req("svcctl", 11, c.getData())["binary_path"] == "C:\\evil.exe"


def test_srvsvc_session_enum_request_and_response() -> None:
    r = srvs.NetrSessionEnum()
    r["ServerName"] = "\\\\DC01\x00"
    r["ClientName"] = NULL
    r["UserName"] = NULL
    r["InfoStruct"]["Level"] = 10
    r["InfoStruct"]["SessionInfo"]["tag"] = 10
    r["InfoStruct"]["SessionInfo"]["Level10"]["Buffer"] = NULL
    r["PreferedMaximumLength"] = 0xFFFFFFFF
    r["ResumeHandle"] = NULL
    out = req("srvsvc", 12, r.getData())
    assert out == {"level": 10, "server": "\\\\DC01", "client_filter": None, "user_filter": None}

    # response, level 10: two sessions, hand-marshalled (impacket builds no responses)
    def s(text: str) -> bytes:
        raw = (text + "\x00").encode("utf-16-le")
        n = len(text) + 1
        return struct.pack("<III", n, 0, n) + raw + b"\x00" * (-len(raw) % 4)

    body = struct.pack("<III", 10, 10, 0x20000) + struct.pack("<II", 2, 0x20004)
    body += struct.pack("<I", 2) + struct.pack("<IIII", 0x8, 0xC, 5, 0)
    body += struct.pack("<IIII", 0x10, 0x14, 7, 1)
    body += s("\\\\10.0.0.5") + s("alice") + s("\\\\10.0.0.9") + s("bob")
    body += struct.pack("<III", 2, 0, 0)
    out = resp("srvsvc", 12, body)
    assert out["sessions"] == [
        {"client": "\\\\10.0.0.5", "user": "alice"},
        {"client": "\\\\10.0.0.9", "user": "bob"},
    ]
    assert out["total"] == 2


def test_samr_lookup_and_open() -> None:
    r = samr.SamrLookupNamesInDomain()
    r["DomainHandle"] = H
    r["Count"] = 2
    for name in ("Administrator", "krbtgt"):
        u = samr.RPC_UNICODE_STRING()
        u["Data"] = name
        r["Names"].append(u)
    assert req("samr", 17, r.getData())["names"] == ["Administrator", "krbtgt"]
    i = samr.SamrLookupIdsInDomain()
    i["DomainHandle"] = H
    i["Count"] = 2
    for rid in (500, 512):
        u32 = samr.ULONG()
        u32["Data"] = rid
        i["RelativeIds"].append(u32)
    assert req("samr", 18, i.getData())["rids"] == [500, 512]
    o = samr.SamrOpenUser()
    o["DomainHandle"] = H
    o["DesiredAccess"] = 0x2011B
    o["UserId"] = 1104
    assert req("samr", 34, o.getData())["rid"] == 1104
    q = samr.SamrQueryInformationUser()
    q["UserHandle"] = H
    q["UserInformationClass"] = 0x15
    assert req("samr", 36, q.getData())["info_class"] == 0x15


def test_drsuapi_get_nc_changes_v8() -> None:
    r = drsuapi.DRSGetNCChanges()
    r["hDrs"] = H
    r["dwInVersion"] = 8
    r["pmsgIn"]["tag"] = 8
    m = r["pmsgIn"]["V8"]
    m["uuidDsaObjDest"] = b"\x11" * 16
    m["uuidInvocIdSrc"] = b"\x22" * 16
    dn = "CN=krbtgt,CN=Users,DC=corp,DC=local"
    ds = drsuapi.DSNAME()
    ds["SidLen"] = 0
    ds["Guid"] = b"\x00" * 16
    ds["Sid"] = ""
    ds["NameLen"] = len(dn)
    ds["StringName"] = dn + "\x00"
    ds["structLen"] = len(ds.getData())
    m["pNC"] = ds
    m["usnvecFrom"]["usnHighObjUpdate"] = 0
    m["usnvecFrom"]["usnHighPropUpdate"] = 0
    m["pUpToDateVecDest"] = NULL
    m["ulFlags"] = 0x30
    m["cMaxObjects"] = 1
    m["cMaxBytes"] = 0
    m["ulExtendedOp"] = 6
    m["pPartialAttrSet"] = NULL
    m["pPartialAttrSetEx1"] = NULL
    m["PrefixTableDest"]["PrefixCount"] = 0
    m["PrefixTableDest"]["pPrefixEntry"] = NULL
    out = req("drsuapi", 3, r.getData())
    assert out["nc"] == dn
    assert out["extended_op"] == "EXOP_REPL_OBJ"
    assert out["version"] == 8


def test_netlogon_zerologon_shapes() -> None:
    c = nrpc.NetrServerReqChallenge()
    c["PrimaryName"] = "\\\\DC01\x00"
    c["ComputerName"] = "DC01\x00"
    c["ClientChallenge"] = b"\x00" * 8
    out = req("netlogon", 4, c.getData())
    assert out["computer"] == "DC01"
    assert out["challenge_all_zero"]
    a = nrpc.NetrServerAuthenticate3()
    a["PrimaryName"] = "\\\\DC01\x00"
    a["AccountName"] = "DC01$\x00"
    a["SecureChannelType"] = nrpc.NETLOGON_SECURE_CHANNEL_TYPE.ServerSecureChannel
    a["ComputerName"] = "DC01\x00"
    a["ClientCredential"] = b"\x00" * 8
    a["NegotiateFlags"] = 0x212FFFFF
    out = req("netlogon", 26, a.getData())
    assert out["account"] == "DC01$"
    assert out["channel_type"] == "ServerSecureChannel"
    assert out["credential_all_zero"]
    assert out["negotiate_flags"] == 0x212FFFFF
    p = nrpc.NetrServerPasswordSet2()
    p["PrimaryName"] = "\\\\DC01\x00"
    p["AccountName"] = "DC01$\x00"
    p["SecureChannelType"] = nrpc.NETLOGON_SECURE_CHANNEL_TYPE.ServerSecureChannel
    p["ComputerName"] = "DC01\x00"
    p["Authenticator"]["Credential"] = b"\x00" * 8
    p["Authenticator"]["Timestamp"] = 0
    p["ClearNewPassword"] = b"\x00" * 516
    out = req("netlogon", 30, p.getData())
    assert out["password_all_zero"]
    assert out["authenticator_all_zero"]


def test_tsch_register_task_commands() -> None:
    xml = (
        "<?xml version='1.0'?><Task><Principals><Principal><UserId>S-1-5-18</UserId>"
        "</Principal></Principals><Actions><Exec><Command>cmd.exe</Command>"
        "<Arguments>/c whoami &gt; C:\\out.txt</Arguments></Exec></Actions></Task>"
    )
    r = tsch.SchRpcRegisterTask()
    r["path"] = "\\Evil\x00"
    r["xml"] = xml + "\x00"
    r["flags"] = 6
    r["sddl"] = NULL
    r["logonType"] = 5
    r["cCreds"] = 0
    r["pCreds"] = NULL
    out = req("ITaskSchedulerService", 1, r.getData())
    assert out["path"] == "\\Evil"
    assert out["commands"] == ["cmd.exe /c whoami > C:\\out.txt"]
    assert out["user_id"] == "S-1-5-18"
    run = tsch.SchRpcRun()
    run["path"] = "\\Evil\x00"
    run["cArgs"] = 0
    run["pArgs"] = NULL
    run["flags"] = 0
    run["sessionId"] = 0
    run["user"] = NULL
    assert req("ITaskSchedulerService", 12, run.getData())["path"] == "\\Evil"
    j = atsvc.NetrJobAdd()
    j["ServerName"] = NULL
    j["pAtInfo"]["JobTime"] = 0
    j["pAtInfo"]["DaysOfMonth"] = 0
    j["pAtInfo"]["DaysOfWeek"] = 0
    j["pAtInfo"]["Flags"] = 0
    j["pAtInfo"]["Command"] = "calc.exe\x00"
    assert req("atsvc", 0, j.getData())["command"] == "calc.exe"


def test_coercion_calls() -> None:
    f = rprn.RpcRemoteFindFirstPrinterChangeNotificationEx()
    f["hPrinter"] = H
    f["fdwFlags"] = 0x100
    f["fdwOptions"] = 0
    f["pszLocalMachine"] = "\\\\attacker\x00"
    f["dwPrinterLocal"] = 0
    f["pOptions"] = NULL
    assert req("spoolss", 65, f.getData())["local_machine"] == "\\\\attacker"
    # MS-EFSR EfsRpcOpenFileRaw: [string] FileName, long Flags (hand-marshalled)
    name = "\\\\attacker\\share\\x\x00".encode("utf-16-le")
    n = len(name) // 2
    stub = struct.pack("<III", n, 0, n) + name + bytes(-len(name) % 4) + struct.pack("<I", 0)
    assert req("efsrpc", 0, stub)["path"] == "\\\\attacker\\share\\x"

    # MS-DFSNM NetrDfsAddStdRoot(ServerName, RootShare, Comment, ApiFlags)
    def s(t: str) -> bytes:
        raw = (t + "\x00").encode("utf-16-le")
        return struct.pack("<III", len(t) + 1, 0, len(t) + 1) + raw + bytes(-len(raw) % 4)

    stub = s("attacker") + s("share") + struct.pack("<II", 0, 0)
    assert req("netdfs", 12, stub) == {"server": "attacker", "root_share": "share"}


def test_printnightmare_driver_paths() -> None:
    r = rprn.RpcAddPrinterDriverEx()
    r["pName"] = NULL
    r["pDriverContainer"]["Level"] = 2
    r["pDriverContainer"]["DriverInfo"]["tag"] = 2
    d = r["pDriverContainer"]["DriverInfo"]["Level2"]
    d["cVersion"] = 3
    d["pName"] = "1234\x00"
    d["pEnvironment"] = "Windows x64\x00"
    d["pDriverPath"] = "C:\\Windows\\System32\\DriverStore\\x\\unidrv.dll\x00"
    d["pDataFile"] = "\\\\attacker\\share\\evil.dll\x00"
    d["pConfigFile"] = "C:\\Windows\\System32\\winhttp.dll\x00"
    r["dwFileCopyFlags"] = 0x8014
    out = req("spoolss", 89, r.getData())
    assert out["level"] == 2
    assert out["data_file"] == "\\\\attacker\\share\\evil.dll"
    p = par.RpcAsyncAddPrinterDriver()
    p["pName"] = "\\\\dc01\x00"
    p["pDriverContainer"] = r["pDriverContainer"]
    p["dwFileCopyFlags"] = 0x8014
    out = req("par", 39, p.getData())
    assert out["server"] == "\\\\dc01"
    assert out["level"] == 2


def test_bkrp_and_winreg() -> None:
    # BackuprKey(GUID*, [size_is(cbDataIn)] byte*, cbDataIn, dwParam), hand-marshalled
    stub = bkrp.BACKUPKEY_RETRIEVE_BACKUP_KEY_GUID + struct.pack("<I", 4) + b"\x00" * 4
    stub += struct.pack("<II", 4, 0)
    assert req("bkrp", 0, stub)["action"] == "BACKUPKEY_RETRIEVE_BACKUP_KEY_GUID"

    def ustr(t: str) -> bytes:  # RRP_UNICODE_STRING by value + its deferred buffer
        raw = (t + "\x00").encode("utf-16-le")
        n = len(t) + 1
        return (
            struct.pack("<HHI", len(raw), len(raw), 0x20000)
            + struct.pack("<III", n, 0, n)
            + raw
            + bytes(-len(raw) % 4)
        )

    stub = H + ustr("SYSTEM\\CurrentControlSet") + struct.pack("<II", 0, 0x20019)
    assert req("winreg", 15, stub)["subkey"] == "SYSTEM\\CurrentControlSet"
    stub = H + ustr("C:\\Windows\\Temp\\sam.save") + struct.pack("<I", 0)
    assert req("winreg", 20, stub)["file"] == "C:\\Windows\\Temp\\sam.save"
