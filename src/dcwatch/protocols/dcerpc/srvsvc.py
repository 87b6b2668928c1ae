"""SRVSVC stub decoders (MS-SRVS 3.1.4): session and share enumeration.

NetrSessionEnum is the "User and IP address reconnaissance (SMB)" call: the request carries the
info level and the client/user filters, the response one (client, user) pair per session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dcwatch.protocols.dcerpc.ndr import NdrReader

Decoder = Callable[[NdrReader], dict[str, Any]]

# MS-SRVS 2.2.4.x SESSION_INFO_* members: p = [string] wchar_t* pointer, d = DWORD
SESSION_LAYOUTS = {0: "p", 1: "ppdddd", 2: "ppddddp", 10: "ppdd", 502: "ppddddpp"}
# MS-SRVS 2.2.4.x SHARE_INFO_* members (levels whose members are all strings or DWORDs)
SHARE_LAYOUTS = {0: "p", 1: "pdp", 2: "pdpdddpp", 501: "pdpd"}


def _enum_struct_req(r: NdrReader) -> dict[str, Any]:
    """*_ENUM_STRUCT in a request: Level, union switch, container pointer (+ container)."""
    level = r.u32("Level")
    r.u32("union switch")
    if r.ptr("container"):
        r.u32("EntriesRead")
        r.ptr("Buffer")  # NULL in requests
    r.u32("PreferedMaximumLength")
    if r.ptr("ResumeHandle"):
        r.u32("ResumeHandle")
    return {"level": level}


def _session_enum(r: NdrReader) -> dict[str, Any]:
    # MS-SRVS 3.1.4.5 NetrSessionEnum(ServerName, ClientName, UserName, InfoStruct, ...)
    server = r.unique_wstr("ServerName")
    client = r.unique_wstr("ClientName")
    user = r.unique_wstr("UserName")
    out = _enum_struct_req(r)
    out.update(server=server, client_filter=client, user_filter=user)
    return out


def _share_enum(r: NdrReader) -> dict[str, Any]:
    # MS-SRVS 3.1.4.8 NetrShareEnum(ServerName, InfoStruct, PreferedMaximumLength, ...)
    server = r.unique_wstr("ServerName")
    out = _enum_struct_req(r)
    out["server"] = server
    return out


def _enum_resp(r: NdrReader, layouts: dict[int, str]) -> tuple[int, list[list[object]] | None, int]:
    level = r.u32("Level")
    r.u32("union switch")
    rows: list[list[object]] | None = None
    if r.ptr("container"):
        r.u32("EntriesRead")
        if r.ptr("Buffer"):
            layout = layouts.get(level)
            if layout is None:
                return level, None, -1  # a level we do not unpack: stop here
            rows = r.struct_array(layout, "entries")
    total = r.u32("TotalEntries")
    if r.ptr("ResumeHandle"):
        r.u32("ResumeHandle")
    return level, rows, total


def _session_enum_resp(r: NdrReader) -> dict[str, Any]:
    level, rows, total = _enum_resp(r, SESSION_LAYOUTS)
    sessions = []
    for row in rows or []:
        sessions.append({"client": row[0], "user": row[1] if len(row) > 1 else None})
    return {"level": level, "sessions": sessions, "total": total}


def _share_enum_resp(r: NdrReader) -> dict[str, Any]:
    level, rows, total = _enum_resp(r, SHARE_LAYOUTS)
    shares = [row[0] for row in rows or []]
    return {"level": level, "shares": shares, "total": total}


def _share_get_info(r: NdrReader) -> dict[str, Any]:
    # MS-SRVS 3.1.4.10 NetrShareGetInfo(ServerName, [string] NetName, Level)
    server = r.unique_wstr("ServerName")
    return {"server": server, "share": r.wstr("NetName"), "level": r.u32("Level")}


REQUESTS: dict[int, Decoder] = {12: _session_enum, 15: _share_enum, 16: _share_get_info}
RESPONSES: dict[int, Decoder] = {12: _session_enum_resp, 15: _share_enum_resp}
