"""LSARPC stub decoders (MS-LSAD 3.1.4): policy and secret access, private data, name lookups.

What the DPAPI backup key detector needs: LsarOpenPolicy2, LsarOpenSecret / LsarCreateSecret
(the secret's name; the connection labels the returned handle with it, so LsarQuerySecret and
LsarClose on that handle carry ``handle_of``), LsarQuerySecret, LsarRetrievePrivateData /
LsarStorePrivateData (``key_name``: e.g. ``G$BCKUPKEY_PREFERRED``, MS-BKRP 3.1.4.1.1). Secret
values are encrypted with the session key (MS-LSAD 5.1.2): only their lengths are reported.
Also LsarLookupNames*/LsarLookupSids* (requested names and SIDs). The NTSTATUS return value is
read generically by the connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dcwatch.protocols.dcerpc.ndr import MAX_ITEMS, NdrReader

Decoder = Callable[[NdrReader], dict[str, Any]]


def _handle_only(r: NdrReader) -> dict[str, Any]:
    return {"handle": r.handle()}


def _new_handle(r: NdrReader) -> dict[str, Any]:
    return {"new_handle": r.handle()}


def _object_attributes(r: NdrReader) -> None:
    """LSAPR_OBJECT_ATTRIBUTES (MS-LSAD 2.2.2.4) and its deferred referents, skipped.

    Clients send every pointer NULL except (Windows) SecurityQualityOfService.
    """
    r.struct_align()
    r.u32("ObjectAttributes Length")
    root = r.ptr("RootDirectory")
    name = r.ptr("ObjectName")
    r.u32("Attributes")
    sd = r.ptr("SecurityDescriptor")
    qos = r.ptr("SecurityQualityOfService")
    if root:  # unsigned char* RootDirectory: one byte
        r.u8("RootDirectory")
    if name:  # PSTRING (MS-DTYP 2.3.3): Length, MaximumLength, [size_is, length_is] char*
        r.struct_align()
        r.u16("ObjectName Length")
        r.u16("ObjectName MaximumLength")
        if r.ptr("ObjectName Buffer"):
            r.cstr("ObjectName Buffer")
    if sd:  # LSAPR_SECURITY_DESCRIPTOR (MS-LSAD 2.2.2.5): Length, [size_is(Length)] byte*
        r.struct_align()
        r.u32("SecurityDescriptor Length")
        if r.ptr("SecurityDescriptor bytes"):
            r.skip(r.count("SecurityDescriptor bytes"), "SecurityDescriptor bytes")
    if qos:  # SECURITY_QUALITY_OF_SERVICE (MS-LSAD 2.2.2.3): Length, enum, 2 x unsigned char
        r.u32("SecurityQualityOfService Length")
        r.enum("ImpersonationLevel")
        r.u8("ContextTrackingMode")
        r.u8("EffectiveOnly")


def _open_policy(r: NdrReader) -> dict[str, Any]:
    # MS-LSAD 3.1.4.4.1 LsarOpenPolicy2([in,unique,string] SystemName, [in] ObjectAttributes,
    # [in] DesiredAccess); 3.1.4.4.2 LsarOpenPolicy: SystemName is a pointer to ONE wchar_t
    system = r.unique_wstr("SystemName")
    _object_attributes(r)
    return {"system_name": system, "access": r.u32("DesiredAccess")}


def _open_policy1(r: NdrReader) -> dict[str, Any]:
    if r.ptr("SystemName"):
        r.u16("SystemName char")
    _object_attributes(r)
    return {"access": r.u32("DesiredAccess")}


def _open_secret(r: NdrReader) -> dict[str, Any]:
    # MS-LSAD 3.1.4.6.2 LsarOpenSecret(PolicyHandle, [in] PRPC_UNICODE_STRING SecretName,
    # DesiredAccess); 3.1.4.6.1 LsarCreateSecret has the same parameters
    h = r.handle("PolicyHandle")
    name = r.ustr("SecretName")
    # "key" names the returned secret handle (conn._handle_label); "secret_name" is what the
    # detectors read
    return {"handle": h, "secret_name": name, "key": name, "access": r.u32("DesiredAccess")}


def _cipher_value(r: NdrReader, what: str) -> int | None:
    """A non-NULL PLSAPR_CR_CIPHER_VALUE's referent (MS-LSAD 2.2.6.1): its Length; the
    encrypted bytes are skipped."""
    r.struct_align()
    length = r.u32(f"{what} Length")
    r.u32(f"{what} MaximumLength")
    if r.ptr(f"{what} Buffer"):
        r.conf(f"{what} max count")
        r.conf(f"{what} offset")
        r.skip(r.count(f"{what} actual count"), what)
    return length


def _cipher_pp(r: NdrReader, what: str) -> int | None:
    """[in,out,unique] PLSAPR_CR_CIPHER_VALUE*: two pointer levels, then the value."""
    if r.ptr(what) and r.ptr(what):
        return _cipher_value(r, what)
    return None


def _time_p(r: NdrReader, what: str) -> None:
    """[in,out,unique] PLARGE_INTEGER."""
    if r.ptr(what):
        r.u64(what)


def _query_secret(r: NdrReader) -> dict[str, Any]:
    # MS-LSAD 3.1.4.6.4 LsarQuerySecret(SecretHandle, [in,out,unique] EncryptedCurrentValue,
    # CurrentValueSetTime, EncryptedOldValue, OldValueSetTime): non-NULL = value wanted
    h = r.handle("SecretHandle")
    want_current = bool(r.ptr("EncryptedCurrentValue"))
    if want_current and r.ptr("EncryptedCurrentValue"):
        _cipher_value(r, "EncryptedCurrentValue")
    _time_p(r, "CurrentValueSetTime")
    want_old = bool(r.ptr("EncryptedOldValue"))
    if want_old and r.ptr("EncryptedOldValue"):
        _cipher_value(r, "EncryptedOldValue")
    return {"handle": h, "current_value": want_current, "old_value": want_old}


def _query_secret_resp(r: NdrReader) -> dict[str, Any]:
    current = _cipher_pp(r, "EncryptedCurrentValue")
    _time_p(r, "CurrentValueSetTime")
    old = _cipher_pp(r, "EncryptedOldValue")
    return {"current_value_length": current, "old_value_length": old}


def _private_data(r: NdrReader) -> dict[str, Any]:
    # MS-LSAD 3.1.4.6.6 LsarRetrievePrivateData(PolicyHandle, [in] PRPC_UNICODE_STRING KeyName,
    # [in,out] PLSAPR_CR_CIPHER_VALUE* EncryptedData): the [ref] level has no wire form.
    # 3.1.4.6.5 LsarStorePrivateData: same first two, then the data to store.
    h = r.handle("PolicyHandle")
    name = r.ustr("KeyName")
    out: dict[str, Any] = {"handle": h, "key_name": name}
    if r.left and r.ptr("EncryptedData"):
        out["data_length"] = _cipher_value(r, "EncryptedData")
    return out


def _retrieve_resp(r: NdrReader) -> dict[str, Any]:
    if r.ptr("EncryptedData"):
        return {"data_length": _cipher_value(r, "EncryptedData")}
    return {"data_length": None}


def _names(r: NdrReader) -> list[str | None]:
    # Count, [size_is(Count)] PRPC_UNICODE_STRING Names (MS-LSAT 3.1.4.5-9)
    r.u32("Count")
    n = r.count("Names", 8)
    refs = [r.ustr_header("Names") for _ in range(n)]
    names = [r.ustr_body("Names") if ref else None for ref in refs]
    return names[:MAX_ITEMS]


def _sids(r: NdrReader) -> list[str]:
    # LSAPR_SID_ENUM_BUFFER (MS-LSAT 2.2.18): Entries, [size_is(Entries)] LSAPR_SID_INFORMATION*
    r.u32("Entries")
    if not r.ptr("SidInfo"):
        return []
    n = r.count("SidInfo", 4)
    refs = [r.ptr("Sid") for _ in range(n)]
    return [r.sid("Sid") for ref in refs if ref][:MAX_ITEMS]


def _lookup_names(r: NdrReader) -> dict[str, Any]:
    # MS-LSAT 3.1.4.6-8 LsarLookupNames/2/3(PolicyHandle, Count, Names, ...)
    h = r.handle("PolicyHandle")
    return {"handle": h, "names": _names(r)}


def _lookup_names4(r: NdrReader) -> dict[str, Any]:
    # MS-LSAT 3.1.4.5 LsarLookupNames4(RpcHandle, Count, Names, ...): no policy handle
    return {"names": _names(r)}


def _lookup_sids(r: NdrReader) -> dict[str, Any]:
    # MS-LSAT 3.1.4.10-11 LsarLookupSids/2(PolicyHandle, SidEnumBuffer, ...)
    h = r.handle("PolicyHandle")
    return {"handle": h, "sids": _sids(r)}


def _lookup_sids3(r: NdrReader) -> dict[str, Any]:
    # MS-LSAT 3.1.4.9 LsarLookupSids3(RpcHandle, SidEnumBuffer, ...)
    return {"sids": _sids(r)}


def _info_class(r: NdrReader) -> dict[str, Any]:
    # MS-LSAD 3.1.4.4.3-4 LsarQueryInformationPolicy/2(PolicyHandle, enum InformationClass)
    h = r.handle("PolicyHandle")
    return {"handle": h, "info_class": r.enum("InformationClass")}


REQUESTS: dict[int, Decoder] = {
    0: _handle_only,  # LsarClose
    6: _open_policy1,
    7: _info_class,
    14: _lookup_names,
    15: _lookup_sids,
    16: _open_secret,  # LsarCreateSecret
    28: _open_secret,
    30: _query_secret,
    42: _private_data,  # LsarStorePrivateData
    43: _private_data,
    44: _open_policy,
    46: _info_class,
    57: _lookup_sids,
    58: _lookup_names,
    68: _lookup_names,
    76: _lookup_sids3,
    77: _lookup_names4,
}
RESPONSES: dict[int, Decoder] = {
    6: _new_handle,
    16: _new_handle,
    28: _new_handle,
    30: _query_secret_resp,
    43: _retrieve_resp,
    44: _new_handle,
}
