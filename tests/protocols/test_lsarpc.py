"""LSARPC stub decoders (MS-LSAD / MS-LSAT) against stubs marshalled by impacket's NDR engine,
and the connection-level view: the secret handle opened by LsarOpenSecret names later calls."""

from __future__ import annotations

import struct

import pytest

from dcwatch.errors import Malformed
from dcwatch.protocols.dcerpc import DceRpcTcpAnalyzer, stubs
from dcwatch.protocols.dcerpc.ndr import NdrReader
from dcwatch.protocols.flow import FlowContext, FlowInfo

pytest.importorskip("impacket")
from impacket.dcerpc.v5 import lsad, lsat
from impacket.dcerpc.v5.dtypes import NULL

H = b"\x01" * 20
SECRET_H = b"\x02" * 20
GUID = "d5e2b34c-9f1e-4b0a-8c3d-112233445566"


def req(opnum: int, data: bytes) -> dict:
    dec = stubs.request_decoder("lsarpc", opnum)
    assert dec is not None
    return dec(NdrReader(data))


def resp(opnum: int, data: bytes) -> dict:
    dec = stubs.response_decoder("lsarpc", opnum)
    assert dec is not None
    return dec(NdrReader(data))


def open_policy2(system: str | None = None, qos: bool = False) -> bytes:
    """LsarOpenPolicy2 as impacket's hLsarOpenPolicy2 builds it (+ a Windows-style QoS)."""
    r = lsad.LsarOpenPolicy2()
    r["SystemName"] = f"{system}\x00" if system else NULL
    for k in ("RootDirectory", "ObjectName", "SecurityDescriptor", "SecurityQualityOfService"):
        r["ObjectAttributes"][k] = NULL
    if qos:
        q = lsad.SECURITY_QUALITY_OF_SERVICE()
        q["Length"] = 12
        q["ImpersonationLevel"] = 2  # SecurityImpersonation
        q["ContextTrackingMode"] = 1
        q["EffectiveOnly"] = 0
        r["ObjectAttributes"]["SecurityQualityOfService"] = q
    r["DesiredAccess"] = lsad.POLICY_GET_PRIVATE_INFORMATION
    return r.getData()


def retrieve(key: str) -> bytes:
    r = lsad.LsarRetrievePrivateData()
    r["PolicyHandle"] = H
    r["KeyName"] = key
    return r.getData()


def test_open_policy2() -> None:
    assert req(44, open_policy2()) == {"system_name": None, "access": 4}
    out = req(44, open_policy2("\\\\DC01", qos=True))
    assert out == {"system_name": "\\\\DC01", "access": lsad.POLICY_GET_PRIVATE_INFORMATION}
    r = lsad.LsarOpenPolicy2Response()
    r["PolicyHandle"] = H
    r["ErrorCode"] = 0
    assert resp(44, r.getData()) == {"new_handle": H.hex()}


def test_retrieve_private_data_backup_keys() -> None:
    for key in ("G$BCKUPKEY_PREFERRED", "G$BCKUPKEY_P", f"G$BCKUPKEY_{GUID}"):
        out = req(43, retrieve(key))
        assert out["key_name"] == key
        assert out["handle"] == H.hex()
    r = lsad.LsarRetrievePrivateDataResponse()
    r["EncryptedData"]["Length"] = 24
    r["EncryptedData"]["MaximumLength"] = 24
    r["EncryptedData"]["Buffer"] = list(b"\xaa" * 24)
    r["ErrorCode"] = 0
    assert resp(43, r.getData()) == {"data_length": 24}
    denied = lsad.LsarRetrievePrivateDataResponse()
    denied["EncryptedData"] = NULL
    denied["ErrorCode"] = 0xC0000022
    assert resp(43, denied.getData()) == {"data_length": None}


def test_store_private_data() -> None:
    r = lsad.LsarStorePrivateData()
    r["PolicyHandle"] = H
    r["KeyName"] = "L$EVIL"
    r["EncryptedData"]["Length"] = r["EncryptedData"]["MaximumLength"] = 16
    r["EncryptedData"]["Buffer"] = list(b"\x00" * 16)
    assert req(42, r.getData()) == {"handle": H.hex(), "key_name": "L$EVIL", "data_length": 16}


def test_open_and_query_secret() -> None:
    o = lsad.LsarOpenSecret()
    o["PolicyHandle"] = H
    o["SecretName"] = "G$BCKUPKEY_PREFERRED"
    o["DesiredAccess"] = lsad.SECRET_QUERY_VALUE
    out = req(28, o.getData())
    assert out["secret_name"] == "G$BCKUPKEY_PREFERRED"
    assert out["access"] == lsad.SECRET_QUERY_VALUE
    r = lsad.LsarOpenSecretResponse()
    r["SecretHandle"] = SECRET_H
    r["ErrorCode"] = 0
    assert resp(28, r.getData()) == {"new_handle": SECRET_H.hex()}
    q = lsad.LsarQuerySecret()
    q["SecretHandle"] = SECRET_H
    q["EncryptedCurrentValue"]["Buffer"] = NULL
    q["EncryptedOldValue"]["Buffer"] = NULL
    q["OldValueSetTime"] = NULL
    assert req(30, q.getData()) == {
        "handle": SECRET_H.hex(),
        "current_value": True,
        "old_value": True,
    }
    qr = lsad.LsarQuerySecretResponse()
    qr["EncryptedCurrentValue"]["Length"] = qr["EncryptedCurrentValue"]["MaximumLength"] = 40
    qr["EncryptedCurrentValue"]["Buffer"] = list(b"\x11" * 40)
    qr["CurrentValueSetTime"] = 0x01D9000000000000
    qr["EncryptedOldValue"] = NULL
    qr["OldValueSetTime"] = NULL
    qr["ErrorCode"] = 0
    assert resp(30, qr.getData()) == {"current_value_length": 40, "old_value_length": None}


def test_lookup_names_and_sids() -> None:
    n = lsat.LsarLookupNames()
    n["PolicyHandle"] = H
    n["Count"] = 2
    for name in ("CONTOSO\\da.admin", "krbtgt"):
        item = lsat.RPC_UNICODE_STRING()
        item["Data"] = name
        n["Names"].append(item)
    n["TranslatedSids"]["Sids"] = NULL
    n["LookupLevel"] = lsat.LSAP_LOOKUP_LEVEL.LsapLookupWksta
    assert req(14, n.getData())["names"] == ["CONTOSO\\da.admin", "krbtgt"]
    s = lsat.LsarLookupSids()
    s["PolicyHandle"] = H
    sids = ["S-1-5-21-1-2-3-500", "S-1-5-32-544"]
    s["SidEnumBuffer"]["Entries"] = len(sids)
    for sid in sids:
        item = lsat.LSAPR_SID_INFORMATION()
        item["Sid"].fromCanonical(sid)
        s["SidEnumBuffer"]["SidInfo"].append(item)
    s["TranslatedNames"]["Names"] = NULL
    s["LookupLevel"] = lsat.LSAP_LOOKUP_LEVEL.LsapLookupWksta
    assert req(15, s.getData()) == {"handle": H.hex(), "sids": sids}


def test_truncated_and_hostile_stubs_raise_malformed() -> None:
    data = retrieve("G$BCKUPKEY_PREFERRED")
    with pytest.raises(Malformed, match="KeyName"):
        req(43, data[:30])
    # an actual count far beyond the stub: bounded, not allocated
    bad = bytearray(data)
    struct.pack_into("<I", bad, 36, 0x7FFFFFFF)
    with pytest.raises(Malformed, match="KeyName actual count"):
        req(43, bytes(bad))
    with pytest.raises(Malformed, match="DesiredAccess"):
        req(44, open_policy2()[:-2])


# ---------------------------------------------------------------------------- on the connection


def _pdu(ptype: int, call_id: int, body: bytes, flags: int = 3) -> bytes:
    return (
        struct.pack(
            "<BBBB4sHHI", 5, 0, ptype, flags, b"\x10\x00\x00\x00", 16 + len(body), 0, call_id
        )
        + body
    )


def _bind() -> bytes:
    iface = bytes.fromhex("785734123412cdabef000123456789ab")  # 12345778-1234-abcd-ef00-...ab
    ndr = bytes.fromhex("045d888aeb1cc9119fe808002b104860")
    ctx = (
        struct.pack("<HBB", 0, 1, 0) + iface + struct.pack("<HH", 0, 0) + ndr + struct.pack("<I", 2)
    )
    return _pdu(11, 1, struct.pack("<HHI", 4280, 4280, 0) + struct.pack("<BBH", 1, 0, 0) + ctx)


def _bind_ack() -> bytes:
    ndr = bytes.fromhex("045d888aeb1cc9119fe808002b104860")
    addr = b"\\PIPE\\lsass\x00"
    body = struct.pack("<HHIH", 4280, 4280, 0x1234, len(addr)) + addr
    body += b"\x00" * ((-(16 + len(body))) % 4)
    body += struct.pack("<BBH", 1, 0, 0) + struct.pack("<HH", 0, 0) + ndr + struct.pack("<I", 2)
    return _pdu(12, 1, body)


def _request(call_id: int, opnum: int, stub: bytes) -> bytes:
    return _pdu(0, call_id, struct.pack("<IHH", len(stub), 0, opnum) + stub)


def _response(call_id: int, stub: bytes) -> bytes:
    return _pdu(2, call_id, struct.pack("<IHBB", len(stub), 0, 0, 0) + stub)


def test_connection_names_secret_handles_and_reads_status() -> None:
    got: list = []
    flow = FlowInfo("tcp", "10.0.0.21", 50000, "10.0.0.10", 49667, "t.pcap", context=FlowContext())
    a = DceRpcTcpAnalyzer(flow, got.append)
    a.data(True, _bind())
    a.data(False, _bind_ack())
    a.data(True, _request(2, 44, open_policy2()))
    op = lsad.LsarOpenPolicy2Response()
    op["PolicyHandle"] = H
    op["ErrorCode"] = 0
    a.data(False, _response(2, op.getData()))
    o = lsad.LsarOpenSecret()
    o["PolicyHandle"] = H
    o["SecretName"] = "G$BCKUPKEY_P"
    o["DesiredAccess"] = lsad.SECRET_QUERY_VALUE
    a.data(True, _request(3, 28, o.getData()))
    osr = lsad.LsarOpenSecretResponse()
    osr["SecretHandle"] = SECRET_H
    osr["ErrorCode"] = 0
    a.data(False, _response(3, osr.getData()))
    q = lsad.LsarQuerySecret()
    q["SecretHandle"] = SECRET_H
    q["EncryptedCurrentValue"]["Buffer"] = NULL
    q["EncryptedOldValue"]["Buffer"] = NULL
    q["OldValueSetTime"] = NULL
    a.data(True, _request(4, 30, q.getData()))
    a.data(True, _request(5, 43, retrieve("G$BCKUPKEY_PREFERRED")))
    denied = lsad.LsarRetrievePrivateDataResponse()
    denied["EncryptedData"] = NULL
    denied["ErrorCode"] = 0xC0000022
    a.data(False, _response(5, denied.getData()))
    a.close()
    calls = {x.fields["operation"]: x for x in got if x.kind == "rpc.call"}
    assert set(calls) >= {
        "LsarOpenPolicy2",
        "LsarOpenSecret",
        "LsarQuerySecret",
        "LsarRetrievePrivateData",
    }
    assert calls["LsarOpenPolicy2"].outcome == "success"
    assert calls["LsarOpenSecret"].fields["args"]["secret_name"] == "G$BCKUPKEY_P"
    assert calls["LsarQuerySecret"].fields["args"]["handle_of"] == "G$BCKUPKEY_P"
    rpd = calls["LsarRetrievePrivateData"]
    assert rpd.fields["interface"] == "lsarpc"
    assert rpd.fields["opnum"] == 43
    assert rpd.fields["args"]["key_name"] == "G$BCKUPKEY_PREFERRED"
    assert rpd.status == 0xC0000022
    assert rpd.outcome == "failure"
