"""WINREG stub decoders (MS-RRP 3.1.5): remote registry keys opened, saved and changed.

Root keys (OpenLocalMachine, ...) and subkeys are named; the connection chains handle labels so
``BaseRegSaveKey`` reports ``HKLM\\SAM`` and the file it is saved to.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dcwatch.protocols.dcerpc.ndr import NdrReader

Decoder = Callable[[NdrReader], dict[str, Any]]

# MS-RRP 3.1.5.1-5, 3.1.5.25: predefined keys by opnum
ROOTS = {0: "HKCR", 1: "HKCU", 2: "HKLM", 3: "HKPD", 4: "HKU", 27: "HKCC"}


def _root(name: str) -> Decoder:
    def decode(r: NdrReader) -> dict[str, Any]:
        # Open*([in,unique] PREGISTRY_SERVER_NAME ServerName, [in] REGSAM samDesired)
        if r.ptr("ServerName"):
            r.u16("ServerName char")
        return {"key": name, "access": r.u32("samDesired")}

    return decode


def _open_key(r: NdrReader) -> dict[str, Any]:
    # MS-RRP 3.1.5.15 BaseRegOpenKey(hKey, RRP_UNICODE_STRING lpSubKey, dwOptions, samDesired)
    h = r.handle("hKey")
    sub = r.ustr("lpSubKey")
    r.u32("dwOptions")
    return {"handle": h, "subkey": sub, "access": r.u32("samDesired")}


def _create_key(r: NdrReader) -> dict[str, Any]:
    # MS-RRP 3.1.5.7 BaseRegCreateKey(hKey, lpSubKey, lpClass, dwOptions, samDesired, ...)
    h = r.handle("hKey")
    sub = r.ustr("lpSubKey")
    r.ustr("lpClass")
    r.u32("dwOptions")
    return {"handle": h, "subkey": sub, "access": r.u32("samDesired")}


def _save_key(r: NdrReader) -> dict[str, Any]:
    # MS-RRP 3.1.5.20/29 BaseRegSaveKey(Ex)(hKey, [in] PRRP_UNICODE_STRING lpFile, ...)
    h = r.handle("hKey")
    return {"handle": h, "file": r.ustr("lpFile")}


def _value(r: NdrReader) -> dict[str, Any]:
    # MS-RRP 3.1.5.17/22/8 BaseRegQueryValue/SetValue/DeleteValue(hKey, lpValueName, ...)
    h = r.handle("hKey")
    return {"handle": h, "value": r.ustr("lpValueName")}


def _new_handle(r: NdrReader) -> dict[str, Any]:
    return {"new_handle": r.handle("phKey")}


def _create_resp(r: NdrReader) -> dict[str, Any]:
    return {"new_handle": r.handle("phkResult")}


REQUESTS: dict[int, Decoder] = {
    **{op: _root(name) for op, name in ROOTS.items()},
    15: _open_key,
    6: _create_key,
    7: _value,
    8: _value,
    17: _value,
    20: _save_key,
    22: _value,
    31: _save_key,
}
RESPONSES: dict[int, Decoder] = {
    **dict.fromkeys(ROOTS, _new_handle),
    15: _new_handle,
    6: _create_resp,
}
