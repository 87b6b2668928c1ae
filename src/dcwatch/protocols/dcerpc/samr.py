"""SAMR stub decoders (MS-SAMR 3.1.5): what account/group enumeration detectors need.

Requests: connect server names, domain names and SIDs, enumeration kinds, looked-up names and
RIDs, opened group/alias/user RIDs, information classes. Responses: returned names and RIDs,
group/alias members. The NTSTATUS return value is read generically by the connection.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dcwatch.protocols.dcerpc.ndr import MAX_ITEMS, NdrReader

Decoder = Callable[[NdrReader], dict[str, Any]]


def _connect0(r: NdrReader) -> dict[str, Any]:
    # MS-SAMR 3.1.5.1.4 SamrConnect: PSAMPR_SERVER_NAME is a unique pointer to ONE wchar_t
    if r.ptr("ServerName"):
        r.u16("ServerName char")
    return {"access": r.u32("DesiredAccess")}


def _connect_n(r: NdrReader) -> dict[str, Any]:
    # MS-SAMR 3.1.5.1.1-3 SamrConnect2/4/5: [unique,string] ServerName first
    return {"server": r.unique_wstr("ServerName")}


def _connect2(r: NdrReader) -> dict[str, Any]:
    out = _connect_n(r)
    out["access"] = r.u32("DesiredAccess")
    return out


def _connect4(r: NdrReader) -> dict[str, Any]:
    out = _connect_n(r)
    r.u32("ClientRevision")
    out["access"] = r.u32("DesiredAccess")
    return out


def _handle_only(r: NdrReader) -> dict[str, Any]:
    return {"handle": r.handle()}


def _lookup_domain(r: NdrReader) -> dict[str, Any]:
    # MS-SAMR 3.1.5.11.1 SamrLookupDomainInSamServer(ServerHandle, [in] PRPC_UNICODE_STRING Name)
    h = r.handle()
    return {"handle": h, "domain": r.ustr("Name")}


def _lookup_domain_resp(r: NdrReader) -> dict[str, Any]:
    return {"domain_sid": r.sid("DomainId") if r.ptr("DomainId") else None}


def _open_domain(r: NdrReader) -> dict[str, Any]:
    # MS-SAMR 3.1.5.1.5 SamrOpenDomain(ServerHandle, DesiredAccess, [in] PRPC_SID DomainId)
    h = r.handle()
    access = r.u32("DesiredAccess")
    return {"handle": h, "access": access, "domain_sid": r.sid("DomainId")}


def _new_handle(r: NdrReader) -> dict[str, Any]:
    return {"new_handle": r.handle()}


def _connect5_resp(r: NdrReader) -> dict[str, Any]:
    # MS-SAMR 3.1.5.1.1 SamrConnect5: OutVersion, OutRevisionInfo (union V1), ServerHandle
    r.u32("OutVersion")
    r.u32("OutRevisionInfo switch")
    r.u32("Revision")
    r.u32("SupportedFeatures")
    return {"new_handle": r.handle()}


def _enum_req(r: NdrReader) -> dict[str, Any]:
    # MS-SAMR 3.1.5.2.x SamrEnumerate*InDomain(handle, [in,out] EnumerationContext, ...)
    h = r.handle()
    return {"handle": h, "resume": r.u32("EnumerationContext")}


def _enum_users_req(r: NdrReader) -> dict[str, Any]:
    # MS-SAMR 3.1.5.2.5 SamrEnumerateUsersInDomain: + UserAccountControl filter
    out = _enum_req(r)
    out["uac_filter"] = r.u32("UserAccountControl")
    return out


def _enum_resp(r: NdrReader) -> dict[str, Any]:
    # SAMPR_ENUMERATION_BUFFER (MS-SAMR 2.2.3.10) of SAMPR_RID_ENUMERATION {RelativeId, Name}
    r.u32("EnumerationContext")
    names: list[str | None] = []
    rids: list[int] = []
    if r.ptr("Buffer"):
        r.u32("EntriesRead")
        if r.ptr("Buffer.Buffer"):
            n = r.count("entries", 12)
            refs = []
            for _ in range(n):
                r.struct_align()
                rids.append(r.u32("RelativeId"))
                refs.append(r.ustr_header("Name"))
            for ref in refs:
                names.append(r.ustr_body("Name") if ref else None)
    count = r.u32("CountReturned")
    return {"count": count, "names": names[:MAX_ITEMS], "rids": rids[:MAX_ITEMS]}


def _lookup_names(r: NdrReader) -> dict[str, Any]:
    # MS-SAMR 3.1.5.11.2 SamrLookupNamesInDomain(handle, Count, [size_is(1000),length_is(Count)])
    h = r.handle()
    r.u32("Count")
    r.conf("Names max count")
    r.conf("Names offset")
    n = r.count("Names actual count", 8)
    refs = [r.ustr_header("Names") for _ in range(n)]
    names = [r.ustr_body("Names") if ref else None for ref in refs]
    return {"handle": h, "names": names[:MAX_ITEMS]}


def _ulong_array(r: NdrReader, what: str) -> list[int]:
    # SAMPR_ULONG_ARRAY (MS-SAMR 2.2.7.4): Count, [size_is(Count)] unsigned long* Element
    r.u32(f"{what} Count")
    return r.u32_array(what) if r.ptr(what) else []


def _lookup_names_resp(r: NdrReader) -> dict[str, Any]:
    rids = _ulong_array(r, "RelativeIds")
    uses = _ulong_array(r, "Use")
    return {"rids": rids, "uses": uses}


def _lookup_ids(r: NdrReader) -> dict[str, Any]:
    # MS-SAMR 3.1.5.11.3 SamrLookupIdsInDomain(handle, Count, [size_is(1000),length_is(Count)])
    h = r.handle()
    r.u32("Count")
    r.conf("RelativeIds max count")
    r.conf("RelativeIds offset")
    n = r.count("RelativeIds actual count", 4)
    rids = [r.u32("RelativeId") for _ in range(min(n, MAX_ITEMS))]
    return {"handle": h, "rids": rids}


def _lookup_ids_resp(r: NdrReader) -> dict[str, Any]:
    # SAMPR_RETURNED_USTRING_ARRAY (MS-SAMR 2.2.7.7)
    r.u32("Names Count")
    names: list[str | None] = []
    if r.ptr("Names"):
        n = r.count("Names", 8)
        refs = [r.ustr_header("Name") for _ in range(n)]
        names = [r.ustr_body("Name") if ref else None for ref in refs]
    uses = _ulong_array(r, "Use")
    return {"names": names[:MAX_ITEMS], "uses": uses}


def _open_rid(r: NdrReader) -> dict[str, Any]:
    # MS-SAMR 3.1.5.1.7-9 SamrOpenGroup/Alias/User(DomainHandle, DesiredAccess, Id)
    h = r.handle()
    access = r.u32("DesiredAccess")
    return {"handle": h, "access": access, "rid": r.u32("Id")}


def _members_group_resp(r: NdrReader) -> dict[str, Any]:
    # SAMPR_GET_MEMBERS_BUFFER (MS-SAMR 2.2.7.14): MemberCount, Members*, Attributes*
    rids: list[int] = []
    count = 0
    if r.ptr("Members"):
        count = r.u32("MemberCount")
        has_members = r.ptr("Members.Members")
        has_attrs = r.ptr("Attributes")
        if has_members:
            rids = r.u32_array("Members")
        if has_attrs:
            r.u32_array("Attributes")
    return {"count": count, "rids": rids}


def _members_alias_resp(r: NdrReader) -> dict[str, Any]:
    # SAMPR_PSID_ARRAY_OUT (MS-SAMR 2.2.3.6): Count, [size_is(Count)] SAMPR_SID_INFORMATION*
    count = r.u32("Count")
    sids: list[str] = []
    if r.ptr("Sids"):
        n = r.count("Sids", 4)
        refs = [r.ptr("SidPointer") for _ in range(n)]
        sids = [r.sid("Sid") for ref in refs if ref]
    return {"count": count, "sids": sids[:MAX_ITEMS]}


def _info_class(r: NdrReader) -> dict[str, Any]:
    # MS-SAMR 3.1.5.5.x Query*Information*(handle, [in] enum class): NDR20 enums are 16 bits
    h = r.handle()
    return {"handle": h, "info_class": r.enum("InformationClass")}


def _display(r: NdrReader) -> dict[str, Any]:
    # MS-SAMR 3.1.5.3.3 SamrQueryDisplayInformation3(handle, class, Index, EntryCount, MaxLen)
    h = r.handle()
    cls = r.enum("DisplayInformationClass")
    return {
        "handle": h,
        "info_class": cls,
        "index": r.u32("Index"),
        "entry_count": r.u32("EntryCount"),
    }


def _alias_membership(r: NdrReader) -> dict[str, Any]:
    # MS-SAMR 3.1.5.9.2 SamrGetAliasMembership(handle, [in] PSAMPR_PSID_ARRAY SidArray)
    h = r.handle()
    r.u32("Count")
    sids: list[str] = []
    if r.ptr("Sids"):
        n = r.count("Sids", 4)
        refs = [r.ptr("SidPointer") for _ in range(n)]
        sids = [r.sid("Sid") for ref in refs if ref]
    return {"handle": h, "sids": sids[:MAX_ITEMS]}


def _set_dsrm(r: NdrReader) -> dict[str, Any]:
    # MS-SAMR 3.1.5.13.7 SamrSetDSRMPassword([unique] Unused, UserId, [unique] EncryptedNtOwf)
    if r.ptr("Unused"):
        r.ustr("Unused")
    return {"rid": r.u32("UserId")}


REQUESTS: dict[int, Decoder] = {
    0: _connect0,
    57: _connect2,
    62: _connect4,
    64: _connect2,
    1: _handle_only,
    5: _lookup_domain,
    6: _enum_req,
    7: _open_domain,
    8: _info_class,
    46: _info_class,
    11: _enum_req,
    13: _enum_users_req,
    15: _enum_req,
    16: _alias_membership,
    17: _lookup_names,
    18: _lookup_ids,
    19: _open_rid,
    27: _open_rid,
    34: _open_rid,
    20: _info_class,
    25: _handle_only,
    33: _handle_only,
    36: _info_class,
    47: _info_class,
    39: _handle_only,
    40: _display,
    48: _display,
    51: _display,
    66: _set_dsrm,
}
RESPONSES: dict[int, Decoder] = {
    0: _new_handle,
    57: _new_handle,
    62: _new_handle,
    64: _connect5_resp,
    7: _new_handle,
    19: _new_handle,
    27: _new_handle,
    34: _new_handle,
    5: _lookup_domain_resp,
    6: _enum_resp,
    11: _enum_resp,
    13: _enum_resp,
    15: _enum_resp,
    17: _lookup_names_resp,
    18: _lookup_ids_resp,
    25: _members_group_resp,
    33: _members_alias_resp,
}
