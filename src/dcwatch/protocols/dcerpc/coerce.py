"""Stub decoders for the authentication-coercion interfaces: EFSRPC (PetitPotam), spoolss and
MS-PAR (PrinterBug, PrintNightmare) and netdfs (DFSCoerce).

What matters is the UNC path the server is told to reach (file name, pszLocalMachine, DFS server
name) and, for driver installs, the driver/config file paths.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dcwatch.protocols.dcerpc.ndr import NdrReader

Decoder = Callable[[NdrReader], dict[str, Any]]


# ---------------------------------------------------------------- MS-EFSR 3.1.4.2
def _efs_file(r: NdrReader) -> dict[str, Any]:
    # EfsRpcOpenFileRaw/EncryptFileSrv/DecryptFileSrv/QueryUsersOnFile/...: [string] FileName
    return {"path": r.wstr("FileName")}


def _efs_duplicate(r: NdrReader) -> dict[str, Any]:
    # MS-EFSR 3.1.4.2.13 EfsRpcDuplicateEncryptionInfoFile(SrcFileName, DestFileName, ...)
    return {"path": r.wstr("SrcFileName"), "dest_path": r.wstr("DestFileName")}


def _efs_flags_reserved_file(r: NdrReader) -> dict[str, Any]:
    # MS-EFSR 3.1.4.2.15/16 EfsRpcAddUsersToFileEx / EfsRpcFileKeyInfoEx:
    #   (dwFlags, [unique] EFS_RPC_BLOB* Reserved, [string] FileName, ...)
    flags = r.u32("dwFlags")
    if r.ptr("Reserved"):
        r.u32("cbData")
        if r.ptr("bData"):
            r.skip(r.count("bData"), "bData")
    return {"flags": flags, "path": r.wstr("FileName")}


EFSRPC_REQUESTS: dict[int, Decoder] = {
    0: _efs_file,
    4: _efs_file,
    5: _efs_file,
    6: _efs_file,
    7: _efs_file,
    8: _efs_file,
    9: _efs_file,
    12: _efs_file,
    13: _efs_duplicate,
    15: _efs_flags_reserved_file,
    16: _efs_flags_reserved_file,
    18: _efs_file,
    19: _efs_file,
    21: _efs_file,
    22: _efs_file,
}


# ---------------------------------------------------------------- MS-RPRN 3.1.4 / MS-PAR 3.1.4
def _open_printer(r: NdrReader) -> dict[str, Any]:
    # MS-RPRN 3.1.4.2.2/14 RpcOpenPrinter(Ex)([unique,string] pPrinterName, [unique,string]
    #   pDatatype, DEVMODE_CONTAINER, AccessRequired, ...); MS-PAR RpcAsyncOpenPrinter alike
    name = r.unique_wstr("pPrinterName")
    r.unique_wstr("pDatatype")
    r.u32("cbBuf")
    if r.ptr("pDevMode"):
        r.skip(r.count("pDevMode"), "pDevMode")
    return {"printer": name, "access": r.u32("AccessRequired")}


def _find_first(r: NdrReader) -> dict[str, Any]:
    # MS-RPRN 3.1.4.10.3/4 RpcRemoteFindFirstPrinterChangeNotification(Ex)(hPrinter,
    #   fdwFlags, fdwOptions, [unique,string] pszLocalMachine, dwPrinterLocal, ...)
    h = r.handle("hPrinter")
    flags = r.u32("fdwFlags")
    r.u32("fdwOptions")
    return {"handle": h, "flags": flags, "local_machine": r.unique_wstr("pszLocalMachine")}


def _driver_container(r: NdrReader) -> dict[str, Any]:
    """DRIVER_CONTAINER (MS-RPRN 2.2.1.5.1): level and, for levels 2-4, the driver paths."""
    level = r.u32("Level")
    r.u32("union switch")
    out: dict[str, Any] = {"level": level}
    if not r.ptr("DriverInfo") or level not in (2, 3, 4):
        return out
    # DRIVER_INFO_2 / RPC_DRIVER_INFO_3/4 (MS-RPRN 2.2.1.5.2-4): cVersion then string pointers
    members = {2: 5, 3: 10, 4: 12}[level]
    r.u32("cVersion")
    vals = [r.u32("member") for _ in range(members)]
    names = ("driver_name", "environment", "driver_path", "data_file", "config_file")
    for key, ref in zip(names, vals[:5], strict=True):
        if ref:
            out[key] = r.wstr(key)
    return out


def _add_driver(r: NdrReader) -> dict[str, Any]:
    # MS-RPRN 3.1.4.4.2 RpcAddPrinterDriver([unique,string] pName, DRIVER_CONTAINER*)
    # MS-RPRN 3.1.4.4.8 RpcAddPrinterDriverEx(... , dwFileCopyFlags)
    server = r.unique_wstr("pName")
    out = _driver_container(r)
    out["server"] = server
    return out


def _async_add_driver(r: NdrReader) -> dict[str, Any]:
    # MS-PAR 3.1.4.2.2 RpcAsyncAddPrinterDriver([string, unique] pName, DRIVER_CONTAINER*, ...)
    server = r.unique_wstr("pName")
    out = _driver_container(r)
    out["server"] = server
    return out


SPOOLSS_REQUESTS: dict[int, Decoder] = {
    1: _open_printer,
    69: _open_printer,
    62: _find_first,
    65: _find_first,
    9: _add_driver,
    89: _add_driver,
}
PAR_REQUESTS: dict[int, Decoder] = {0: _open_printer, 39: _async_add_driver}


# ---------------------------------------------------------------- MS-DFSNM 3.1.4.4
def _dfs_std_root(r: NdrReader) -> dict[str, Any]:
    # NetrDfsAddStdRoot / NetrDfsRemoveStdRoot([string] ServerName, [string] RootShare, ...)
    return {"server": r.wstr("ServerName"), "root_share": r.wstr("RootShare")}


NETDFS_REQUESTS: dict[int, Decoder] = {12: _dfs_std_root, 13: _dfs_std_root, 15: _dfs_std_root}
