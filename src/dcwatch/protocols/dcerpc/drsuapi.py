"""DRSUAPI stub decoders (MS-DRSR 4.1): replication requests (DCSync, DCShadow).

IDL_DRSGetNCChanges names the naming context or object (DN and GUID) and the extended operation
(EXOP_REPL_OBJ / EXOP_REPL_SECRETS single-object replication); DRSReplicaAdd and DRSAddEntry
name what a rogue DC registers; DRSCrackNames shows the names being resolved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dcwatch.errors import Malformed
from dcwatch.protocols.dcerpc.ndr import MAX_ITEMS, NdrReader

Decoder = Callable[[NdrReader], dict[str, Any]]

# MS-DRSR 4.1.10.2.21 EXOP_REQ
EXTENDED_OPS = {
    0: "EXOP_NONE",
    1: "EXOP_FSMO_REQ_ROLE",
    2: "EXOP_FSMO_REQ_RID_ALLOC",
    3: "EXOP_FSMO_RID_REQ_ROLE",
    4: "EXOP_FSMO_REQ_PDC",
    5: "EXOP_FSMO_ABANDON_ROLE",
    6: "EXOP_REPL_OBJ",
    7: "EXOP_REPL_SECRETS",
}


def dsname(r: NdrReader) -> dict[str, Any]:
    """DSNAME (MS-DRSR 5.50): conformant struct {structLen, SidLen, Guid, Sid, NameLen, Name}."""
    r.conf("DSNAME conformance")
    r.u32("structLen")
    sid_len = r.u32("SidLen")
    guid = r.guid("Guid")
    sid_raw = r.raw(28, "Sid")
    name_len = r.u32("NameLen")
    name = r.raw(2 * (name_len + 1), "StringName").decode("utf-16-le", "replace").rstrip("\x00")
    out: dict[str, Any] = {"dn": name or None}
    if guid != "00000000-0000-0000-0000-000000000000":
        out["guid"] = guid
    if 8 <= sid_len <= 28 and sid_raw[1] * 4 + 8 == sid_len:
        subs = [
            int.from_bytes(sid_raw[8 + 4 * i : 12 + 4 * i], "little") for i in range(sid_raw[1])
        ]
        out["sid"] = "S-" + "-".join(
            [str(sid_raw[0]), str(int.from_bytes(sid_raw[2:8], "big")), *map(str, subs)]
        )
    return out


def _bind(r: NdrReader) -> dict[str, Any]:
    # MS-DRSR 4.1.3 IDL_DRSBind([unique] puuidClientDsa, [unique] pextClient)
    client = r.guid("puuidClientDsa") if r.ptr("puuidClientDsa") else None
    return {"client_dsa": client}


def _handle_version(r: NdrReader) -> tuple[str, int, int]:
    h = r.handle("hDrs")
    version = r.u32("dwInVersion")
    disc = r.u32("union switch")
    if disc != version:
        raise Malformed(f"drsuapi: union switch {disc} differs from dwInVersion {version}")
    return h, version, disc


def _get_nc_changes(r: NdrReader) -> dict[str, Any]:
    # MS-DRSR 4.1.10 IDL_DRSGetNCChanges(hDrs, dwInVersion, DRS_MSG_GETCHGREQ pmsgIn)
    h, version, _ = _handle_version(r)
    out: dict[str, Any] = {"handle": h, "version": version}
    if version not in (5, 8, 10, 11):
        return out
    r.align(8)  # the V5/V8/V10 arms hold hyper members
    out["dest_dsa"] = r.guid("uuidDsaObjDest")
    r.guid("uuidInvocIdSrc")
    has_nc = r.ptr("pNC")
    r.align(8)
    r.skip(24, "usnvecFrom")
    r.ptr("pUpToDateVecDest")
    out["flags"] = r.u32("ulFlags")
    r.u32("cMaxObjects")
    r.u32("cMaxBytes")
    exop = r.u32("ulExtendedOp")
    out["extended_op"] = EXTENDED_OPS.get(exop, exop)
    r.u64("liFsmoInfo")
    if version >= 8:
        r.ptr("pPartialAttrSet")
        r.ptr("pPartialAttrSetEx")
        r.u32("PrefixCount")
        r.ptr("pPrefixEntry")
        if version >= 10:
            r.u32("ulMoreFlags")
    if has_nc:
        r.align(8)  # the struct ends on its 8-byte alignment before the deferred pointees
        nc = dsname(r)
        out["nc"] = nc.get("dn")
        if "guid" in nc:
            out["nc_guid"] = nc["guid"]
        if "sid" in nc:
            out["nc_sid"] = nc["sid"]
    return out


def _get_nc_changes_resp(r: NdrReader) -> dict[str, Any]:
    # MS-DRSR 4.1.10 pdwOutVersion, DRS_MSG_GETCHGREPLY_V6 first members
    version = r.u32("pdwOutVersion")
    r.u32("union switch")
    out: dict[str, Any] = {"version": version}
    if version not in (6, 9):
        return out
    r.align(8)
    r.guid("uuidDsaObjSrc")
    r.guid("uuidInvocIdSrc")
    r.ptr("pNC")
    r.align(8)
    r.skip(48, "usnvecFrom, usnvecTo")
    r.ptr("pUpToDateVecSrc")
    r.u32("PrefixCount")
    r.ptr("pPrefixEntry")
    out["extended_ret"] = r.u32("ulExtendedRet")
    out["objects"] = r.u32("cNumObjects")
    out["bytes"] = r.u32("cNumBytes")
    return out


def _crack_names(r: NdrReader) -> dict[str, Any]:
    # MS-DRSR 4.1.4 IDL_DRSCrackNames, DRS_MSG_CRACKREQ_V1
    h, version, _ = _handle_version(r)
    out: dict[str, Any] = {"handle": h, "version": version}
    if version != 1:
        return out
    r.u32("CodePage")
    r.u32("LocaleId")
    out["flags"] = r.u32("dwFlags")
    out["format_offered"] = r.u32("formatOffered")
    out["format_desired"] = r.u32("formatDesired")
    r.u32("cNames")
    names: list[str | None] = []
    if r.ptr("rpNames"):
        n = r.count("rpNames", 4)
        refs = [r.ptr("rpNames[i]") for _ in range(n)]
        names = [r.wstr("name") if ref else None for ref in refs]
    out["names"] = names[:MAX_ITEMS]
    return out


def _replica_add(r: NdrReader) -> dict[str, Any]:
    # MS-DRSR 4.1.19 IDL_DRSReplicaAdd, DRS_MSG_REPADD_V1 / V2
    h, version, _ = _handle_version(r)
    out: dict[str, Any] = {"handle": h, "version": version}
    if version == 1:
        p_nc = r.ptr("pNC")
        p_src = r.ptr("pszDsaSrc")
        r.skip(84, "rtSchedule")
        out["options"] = r.u32("ulOptions")
        if p_nc:
            out["nc"] = dsname(r).get("dn")
        if p_src:
            out["source_dsa_address"] = r.cstr("pszDsaSrc")
    elif version == 2:
        ptrs = [r.ptr(w) for w in ("pNC", "pSourceDsaDN", "pTransportDN", "pszSourceDsaAddress")]
        r.skip(84, "rtSchedule")
        out["options"] = r.u32("ulOptions")
        if ptrs[0]:
            out["nc"] = dsname(r).get("dn")
        if ptrs[1]:
            out["source_dsa_dn"] = dsname(r).get("dn")
        if ptrs[2]:
            dsname(r)
        if ptrs[3]:
            out["source_dsa_address"] = r.cstr("pszSourceDsaAddress")
    return out


def _add_entry(r: NdrReader) -> dict[str, Any]:
    # MS-DRSR 4.1.1 IDL_DRSAddEntry, DRS_MSG_ADDENTRYREQ_V2/V3: first ENTINF of EntInfList
    h, version, _ = _handle_version(r)
    out: dict[str, Any] = {"handle": h, "version": version}
    if version not in (2, 3):
        return out
    p_next = r.ptr("pNextEntInf")
    p_name = r.ptr("pName")
    r.u32("ulFlags")
    r.u32("attrCount")
    p_attr = r.ptr("pAttr")
    if version == 3:
        r.ptr("pClientCreds")
    if p_next:
        return out  # a chained list: the first pointee is another ENTINFLIST, not read here
    if p_name:
        out["object"] = dsname(r).get("dn")
    if p_attr:
        n = r.count("pAttr", 12)
        attrs = []
        for _ in range(n):
            attrs.append(r.u32("attrTyp"))
            r.u32("valCount")
            r.ptr("pAVal")
        out["attr_types"] = attrs[:MAX_ITEMS]
    return out


def _handle_only(r: NdrReader) -> dict[str, Any]:
    return {"handle": r.handle("hDrs")}


def _dc_info(r: NdrReader) -> dict[str, Any]:
    # MS-DRSR 4.1.5 IDL_DRSDomainControllerInfo, DRS_MSG_DCINFOREQ_V1 {Domain, InfoLevel}
    h, version, _ = _handle_version(r)
    out: dict[str, Any] = {"handle": h, "version": version}
    if version == 1:
        has_domain = r.ptr("Domain")
        out["info_level"] = r.u32("InfoLevel")
        if has_domain:
            out["domain"] = r.wstr("Domain")
    return out


REQUESTS: dict[int, Decoder] = {
    0: _bind,
    1: _handle_only,
    3: _get_nc_changes,
    5: _replica_add,
    12: _crack_names,
    16: _dc_info,
    17: _add_entry,
}
RESPONSES: dict[int, Decoder] = {3: _get_nc_changes_resp}
