"""Suspicious network connection over Encrypting File System Remote Protocol: MDI external ID 2416.

PetitPotam-style coercion: an EFSRPC call (either EFSRPC interface, on any pipe it is reachable
through) against a DC whose file name is a UNC path to another host. With the stub sealed the
path is unreadable: any EFSRPC file operation against a DC still alerts (it has no legitimate
use there), naming no listener. Severity High when the DC answered success, else Medium.
Sources: DCE/RPC on the wire.
Known false positives: vulnerability scanners (exclude the source).
State: up to 1000 drafts held while the data cannot tell whether the server is a DC.
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._coerce import CoercionDetector, coercion_draft, other_host, unc_host
from dcwatch.detectors._common import rpc_args
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity


class EfsrpcCoercion(CoercionDetector):
    slug: ClassVar[str] = "efsrpc-coercion"
    external_id: ClassVar[int] = 2416
    title: ClassVar[str] = ("Suspicious network connection over Encrypting File System Remote "
                            "Protocol")
    phase: ClassVar[Phase] = Phase.LATERAL_MOVEMENT
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1210",)
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.RPC_CALL})

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.fields.get("interface") != "efsrpc" or a.src_ip == a.dst_ip:
            return []
        args = rpc_args(a)
        path = args.get("path") or args.get("dest_path")
        listener = unc_host(path)
        if path and not other_host(a.dst_ip, a.dst_host, listener):
            return []  # a local path on the DC itself
        if self.resolver.dc_status(a.src_ip)[0]:
            return []
        op = str(a.fields.get("operation") or f"opnum {a.fields.get('opnum')}")
        return self.emit(a, coercion_draft(self, a, op, listener, path,
                                           "the EFS remote protocol"))
