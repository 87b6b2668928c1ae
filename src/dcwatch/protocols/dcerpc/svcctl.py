"""SVCCTL stub decoders (MS-SCMR 3.1.4): remote service creation and start (PsExec, smbexec).

Service names travel in ROpenServiceW/RCreateServiceW; the connection maps the returned handle
to that name so RStartServiceW/RChangeServiceConfigW/RDeleteService can name the service too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dcwatch.protocols.dcerpc.ndr import NdrReader

Decoder = Callable[[NdrReader], dict[str, Any]]

# MS-SCMR 2.2.47 / 3.1.4.12: dwStartType
START_TYPES = {0: "boot", 1: "system", 2: "auto", 3: "demand", 4: "disabled"}


def _open_scm(r: NdrReader, wide: bool = True) -> dict[str, Any]:
    # MS-SCMR 3.1.4.15 ROpenSCManagerW(lpMachineName, lpDatabaseName, dwDesiredAccess)
    s = r.unique_wstr if wide else r.unique_cstr
    machine = s("lpMachineName")
    db = s("lpDatabaseName")
    return {"machine": machine, "database": db, "access": r.u32("dwDesiredAccess")}


def _open_scm_a(r: NdrReader) -> dict[str, Any]:
    return _open_scm(r, wide=False)


def _open_service(r: NdrReader, wide: bool = True) -> dict[str, Any]:
    # MS-SCMR 3.1.4.16 ROpenServiceW(hSCManager, [string] lpServiceName, dwDesiredAccess)
    h = r.handle()
    name = r.wstr("lpServiceName") if wide else r.cstr("lpServiceName")
    return {"handle": h, "service": name, "access": r.u32("dwDesiredAccess")}


def _open_service_a(r: NdrReader) -> dict[str, Any]:
    return _open_service(r, wide=False)


def _create_service(r: NdrReader, wide: bool = True) -> dict[str, Any]:
    # MS-SCMR 3.1.4.12 RCreateServiceW / 3.1.4.30 RCreateServiceA (same shape, char strings)
    s = r.wstr if wide else r.cstr
    us = r.unique_wstr if wide else r.unique_cstr
    h = r.handle()
    name = s("lpServiceName")
    display = us("lpDisplayName")
    access = r.u32("dwDesiredAccess")
    stype = r.u32("dwServiceType")
    start = r.u32("dwStartType")
    r.u32("dwErrorControl")
    path = s("lpBinaryPathName")
    out: dict[str, Any] = {
        "handle": h,
        "service": name,
        "display_name": display,
        "access": access,
        "service_type": stype,
        "start_type": START_TYPES.get(start, start),
        "binary_path": path,
    }
    us("lpLoadOrderGroup")
    if r.ptr("lpdwTagId"):
        r.u32("TagId")
    if r.ptr("lpDependencies"):
        r.skip(r.count("lpDependencies"), "lpDependencies")
    r.u32("dwDependSize")
    out["start_name"] = us("lpServiceStartName")
    return out


def _create_service_a(r: NdrReader) -> dict[str, Any]:
    return _create_service(r, wide=False)


def _create_resp(r: NdrReader) -> dict[str, Any]:
    if r.ptr("lpdwTagId"):
        r.u32("TagId")
    return {"new_handle": r.handle()}


def _new_handle(r: NdrReader) -> dict[str, Any]:
    return {"new_handle": r.handle()}


def _handle_only(r: NdrReader) -> dict[str, Any]:
    return {"handle": r.handle()}


def _start_service(r: NdrReader) -> dict[str, Any]:
    # MS-SCMR 3.1.4.19 RStartServiceW(hService, argc, [unique, size_is(argc)] LPSTRING_PTRSW argv)
    h = r.handle()
    argc = r.u32("argc")
    args: list[str | None] = []
    if r.ptr("argv"):
        n = r.count("argv", 4)
        refs = [r.ptr("argv[i]") for _ in range(n)]
        args = [r.wstr("argv[i]") if ref else None for ref in refs]
    return {"handle": h, "argc": argc, "argv": args}


def _change_config(r: NdrReader) -> dict[str, Any]:
    # MS-SCMR 3.1.4.11 RChangeServiceConfigW(hService, type, start, error, [unique] BinaryPath..)
    h = r.handle()
    stype = r.u32("dwServiceType")
    start = r.u32("dwStartType")
    r.u32("dwErrorControl")
    path = r.unique_wstr("lpBinaryPathName")
    return {
        "handle": h,
        "service_type": stype,
        "start_type": START_TYPES.get(start, start),
        "binary_path": path,
    }


def _control(r: NdrReader) -> dict[str, Any]:
    # MS-SCMR 3.1.4.2 RControlService(hService, dwControl)
    h = r.handle()
    return {"handle": h, "control": r.u32("dwControl")}


REQUESTS: dict[int, Decoder] = {
    15: _open_scm,
    27: _open_scm_a,
    16: _open_service,
    28: _open_service_a,
    12: _create_service,
    24: _create_service_a,
    19: _start_service,
    11: _change_config,
    0: _handle_only,
    1: _control,
    2: _handle_only,
    6: _handle_only,
    17: _handle_only,
}
RESPONSES: dict[int, Decoder] = {
    15: _new_handle,
    27: _new_handle,
    16: _new_handle,
    28: _new_handle,
    12: _create_resp,
    24: _create_resp,
}
