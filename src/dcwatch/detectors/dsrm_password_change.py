"""Directory Services Restore Mode Password Change: MDI external ID 2438.

The DSRM administrator password of a domain controller is set (the DC's local recovery
administrator; with DsrmAdminLogonBehavior=2 it becomes a network-usable backdoor).
Sources: event 4794 on the DC; SAMR SamrSetDSRMPassword (opnum 66) on the wire.
Known false positive: planned DSRM password rotation by administrators.
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._common import display, host_ref, is_remote_ip, rpc_op, rpc_target
from dcwatch.detectors.base import Detector, ip_ref, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

K = ActivityKind
SAMR_SET_DSRM = {66: "SamrSetDSRMPassword"}  # MS-SAMR 3.1.5.13.7


class DsrmPasswordChange(Detector):
    slug: ClassVar[str] = "dsrm-password-change"
    external_id: ClassVar[int] = 2438
    title: ClassVar[str] = "Directory Services Restore Mode Password Change"
    phase: ClassVar[Phase] = Phase.OTHER
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1098",)
    handles: ClassVar[frozenset[str]] = frozenset({K.DSRM_PASSWORD_SET, K.RPC_CALL})

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is K.RPC_CALL:
            if str(a.fields.get("interface") or "").lower() != "samr" or a.fields.get("etw") \
                    or rpc_op(a, SAMR_SET_DSRM) != "setdsrmpassword":
                return []
            dc, ip, ws = rpc_target(a, self.resolver), a.src_ip, a.src_host
            require = a.dst_ip or a.dst_host
        else:
            src = self.resolver.session_source(a.host, a.fields.get("logon_id"))
            ip, ws = src if src else (None, None)
            ip = ip if is_remote_ip(ip) else None
            dc, require = a.host, a.host
        who = str(a.actor) if a.actor else "An unknown user"
        verb = "failed to change" if a.outcome == "failure" else "changed"
        where = f" from {display(ws) if ws else ip}" if (ws or ip) else ""
        return [self.draft(
            key=f"{(str(a.actor) if a.actor else '?').lower()}|{display(dc).lower()}",
            activities=[a],
            description=f"{who}{where} {verb} the Directory Services Restore Mode "
                        f"administrator password on {display(dc)}.",
            entities=refs(user_ref(a.actor, "actor"), host_ref(ws, "source computer", ip),
                          ip_ref(ip, "source IP") if ws else None,
                          host_ref(dc, "domain controller")),
            evidence={k: v for k, v in (("domain_controller", display(dc)), ("source_ip", ip),
                                        ("source_computer", ws), ("outcome", a.outcome),
                                        ("workstation", a.fields.get("workstation"))) if v},
            require_dc=require,
        )]
