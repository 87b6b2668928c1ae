"""Task scheduler stub decoders (MS-TSCH): ATSvc NetrJobAdd and ITaskSchedulerService.

SchRpcRegisterTask carries the whole task XML; the decoder keeps the task path and the
``<Command>``/``<Arguments>`` of each ``<Exec>`` action (and the principal's ``<UserId>``), not the
XML itself.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape
from typing import Any

from dcwatch.protocols.dcerpc.ndr import NdrReader

Decoder = Callable[[NdrReader], dict[str, Any]]

_EXEC = re.compile(r"<Exec\b[^>]*>(.*?)</Exec>", re.S | re.I)
_COMMAND = re.compile(r"<Command>(.*?)</Command>", re.S | re.I)
_ARGS = re.compile(r"<Arguments>(.*?)</Arguments>", re.S | re.I)
_USER = re.compile(r"<UserId>(.*?)</UserId>", re.S | re.I)
MAX_COMMANDS = 32


def task_commands(xml: str) -> list[str]:
    """Command lines (``Command`` + ``Arguments``) of the Exec actions in a task XML."""
    out = []
    for block in _EXEC.findall(xml)[:MAX_COMMANDS]:
        cmd = _COMMAND.search(block)
        args = _ARGS.search(block)
        line = unescape(cmd.group(1).strip()) if cmd else ""
        if args:
            line = f"{line} {unescape(args.group(1).strip())}".strip()
        out.append(line)
    return out


def _job_add(r: NdrReader) -> dict[str, Any]:
    # MS-TSCH 3.2.5.2.1 NetrJobAdd(ServerName, [in] LPAT_INFO pAtInfo): AT_INFO (2.3.4)
    server = r.unique_wstr("ServerName")
    r.u32("JobTime")
    r.u32("DaysOfMonth")
    r.u8("DaysOfWeek")
    flags = r.u8("Flags")
    has_cmd = r.ptr("Command")
    return {"server": server, "flags": flags, "command": r.wstr("Command") if has_cmd else None}


def _job_del(r: NdrReader) -> dict[str, Any]:
    # MS-TSCH 3.2.5.2.2 NetrJobDel(ServerName, MinJobId, MaxJobId)
    server = r.unique_wstr("ServerName")
    return {"server": server, "min_job_id": r.u32("MinJobId"), "max_job_id": r.u32("MaxJobId")}


def _register_task(r: NdrReader) -> dict[str, Any]:
    # MS-TSCH 3.2.5.4.2 SchRpcRegisterTask([unique,string] path, [string] xml, flags, sddl,
    #   logonType, cCreds, pCreds)
    path = r.unique_wstr("path")
    xml = r.wstr("xml")
    flags = r.u32("flags")
    r.unique_wstr("sddl")
    logon = r.u32("logonType")
    user = _USER.search(xml)
    return {
        "path": path,
        "flags": flags,
        "logon_type": logon,
        "commands": task_commands(xml),
        "user_id": unescape(user.group(1).strip()) if user else None,
        "xml_length": len(xml),
    }


def _path_first(r: NdrReader) -> dict[str, Any]:
    # MS-TSCH 3.2.5.4.12/13/19 SchRpcRun / SchRpcDelete / SchRpcEnableTask: [string] path first
    return {"path": r.wstr("path")}


def _retrieve(r: NdrReader) -> dict[str, Any]:
    # MS-TSCH 3.2.5.4.3 SchRpcRetrieveTask([string] path, [string] languagesBuffer, ...)
    return {"path": r.wstr("path")}


ATSVC_REQUESTS: dict[int, Decoder] = {0: _job_add, 1: _job_del}
TASK_REQUESTS: dict[int, Decoder] = {
    1: _register_task,
    2: _retrieve,
    12: _path_first,
    13: _path_first,
    19: _path_first,
}
