"""Which stub decoder handles which (interface, opnum), and how return values read as outcomes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dcwatch.protocols.dcerpc import (
    bkrp,
    coerce,
    drsuapi,
    epm,
    lsarpc,
    netlogon,
    samr,
    srvsvc,
    svcctl,
    tsch,
    winreg,
)
from dcwatch.protocols.dcerpc.ndr import NdrReader

Decoder = Callable[[NdrReader], dict[str, Any]]

REQUESTS: dict[str, dict[int, Decoder]] = {
    "samr": samr.REQUESTS,
    "lsarpc": lsarpc.REQUESTS,
    "srvsvc": srvsvc.REQUESTS,
    "svcctl": svcctl.REQUESTS,
    "drsuapi": drsuapi.REQUESTS,
    "netlogon": netlogon.REQUESTS,
    "atsvc": tsch.ATSVC_REQUESTS,
    "ITaskSchedulerService": tsch.TASK_REQUESTS,
    "bkrp": bkrp.REQUESTS,
    "efsrpc": coerce.EFSRPC_REQUESTS,
    "spoolss": coerce.SPOOLSS_REQUESTS,
    "par": coerce.PAR_REQUESTS,
    "netdfs": coerce.NETDFS_REQUESTS,
    "winreg": winreg.REQUESTS,
    "epm": epm.REQUESTS,
}
RESPONSES: dict[str, dict[int, Decoder]] = {
    "samr": samr.RESPONSES,
    "lsarpc": lsarpc.RESPONSES,
    "srvsvc": srvsvc.RESPONSES,
    "svcctl": svcctl.RESPONSES,
    "drsuapi": drsuapi.RESPONSES,
    "winreg": winreg.RESPONSES,
    "epm": epm.RESPONSES,
}
# Interfaces whose methods return NTSTATUS (success when the severity bits are clear);
# the others return Win32 error codes (success only when 0).
NTSTATUS_INTERFACES = frozenset({"samr", "lsarpc", "netlogon", "dssetup"})


def request_decoder(interface: str, opnum: int) -> Decoder | None:
    """The request stub decoder for ``opnum`` on ``interface``, if any."""
    return REQUESTS.get(interface, {}).get(opnum)


def response_decoder(interface: str, opnum: int) -> Decoder | None:
    """The response stub decoder for ``opnum`` on ``interface``, if any."""
    return RESPONSES.get(interface, {}).get(opnum)


def outcome(interface: str, status: int | None, fault: bool) -> str | None:
    """success | failure | None (sealed or unknown) for a call's return value."""
    if fault:
        return "failure"
    if status is None:
        return None
    if interface in NTSTATUS_INTERFACES:
        return "success" if status < 0x80000000 else "failure"
    return "success" if status == 0 else "failure"
