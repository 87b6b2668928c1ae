"""Suspected DFSCoerce attack using Distributed File System Protocol: MDI external ID 2426.

MS-DFSNM NetrDfsAddStdRoot (12) / NetrDfsRemoveStdRoot (13) against a DC whose ServerName names
another host: the DC is made to authenticate to it (and be relayed). With the stub unreadable any
such call against a DC alerts. Severity High when the DC answered success, else... High too:
the call itself has no legitimate use from a workstation (catalog severity).
Sources: DCE/RPC over ``\\PIPE\\netdfs`` on the wire.
State: up to 1000 drafts held while the data cannot tell whether the server is a DC.
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._coerce import CoercionDetector, coercion_draft, other_host
from dcwatch.detectors._common import rpc_args
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

OPS = {12: "NetrDfsAddStdRoot", 13: "NetrDfsRemoveStdRoot"}


class DfsCoerce(CoercionDetector):
    slug: ClassVar[str] = "dfscoerce"
    external_id: ClassVar[int] = 2426
    title: ClassVar[str] = ("Suspected DFSCoerce attack using Distributed File System Protocol")
    phase: ClassVar[Phase] = Phase.CREDENTIAL_ACCESS
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1187",)
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.RPC_CALL})

    def observe(self, a: Activity) -> list[AlertDraft]:
        op = a.fields.get("opnum")
        if a.fields.get("interface") != "netdfs" or op not in OPS or a.src_ip == a.dst_ip:
            return []
        if self.resolver.dc_status(a.src_ip)[0]:
            return []
        server = rpc_args(a).get("server")
        if server and not other_host(a.dst_ip, a.dst_host, str(server).strip("\\")):
            return []
        d = coercion_draft(self, a, OPS[op], str(server).strip("\\") if server else None,
                           None, "the DFS namespace protocol")
        d.severity = Severity.HIGH
        return self.emit(a, d)
