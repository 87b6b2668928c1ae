"""Suspected DCShadow attack (domain controller replication request): MDI external ID 2029.

A machine that is not a valid DC pushes directory changes to a genuine DC through replication:
it asks the DC to add it as a replication source (DRSUAPI IDL_DRSReplicaAdd, opnum 5) and the
DC then pulls changes from it (IDL_DRSGetNCChanges, opnum 3, sent BY a DC TO a non-DC).
Sources: ``rpc.call`` drsuapi on the wire (no event equivalent).
Known false positives: a newly promoted DC the data does not reveal yet (use --dc), replicating
appliances; exclude the computer.
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._common import display, host_ref, rpc_op
from dcwatch.detectors.base import Detector, ip_ref, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

K = ActivityKind
DRS_OPS = {3: "IDL_DRSGetNCChanges", 5: "IDL_DRSReplicaAdd"}  # MS-DRSR 4.1.10 / 4.1.19


class DcShadowReplication(Detector):
    slug: ClassVar[str] = "dcshadow-replication"
    external_id: ClassVar[int] = 2029
    title: ClassVar[str] = "Suspected DCShadow attack (domain controller replication request)"
    phase: ClassVar[Phase] = Phase.OTHER
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1207",)
    handles: ClassVar[frozenset[str]] = frozenset({K.RPC_CALL})

    def observe(self, a: Activity) -> list[AlertDraft]:
        if str(a.fields.get("interface") or "").lower() != "drsuapi" or a.fields.get("etw"):
            return []
        op = rpc_op(a, DRS_OPS)
        src_dc, _ = self.resolver.dc_status(a.src_ip)
        dst_dc, _ = self.resolver.dc_status(a.dst_ip)
        if op == "replicaadd" and dst_dc is not False:
            # a DC asks another DC with its machine account; a user account or a known non-DC
            # source asking a DC to replicate from it is the DCShadow push
            actor_user = a.actor is not None and not a.actor.is_machine
            if src_dc is False or (src_dc is None and actor_user):
                return [self._draft(a, a.src_ip, a.dst_ip, "asked it to add a replication "
                                    "source (IDL_DRSReplicaAdd)")]
        if op == "getncchanges" and src_dc is True and dst_dc is False:
            return [self._draft(a, a.dst_ip, a.src_ip, "served it directory changes "
                                "(IDL_DRSGetNCChanges from the DC)")]
        return []

    def _draft(self, a: Activity, rogue_ip: str | None, dc_ip: str | None,
               fact: str) -> AlertDraft:
        rm = self.resolver.computer_for_ip(rogue_ip)
        dm = self.resolver.computer_for_ip(dc_ip)
        rogue = rm.host if rm else None
        dc = (dm.host if dm else None) or dc_ip
        return self.draft(
            key=f"{(rogue_ip or '?')}|{(dc_ip or '?')}",
            activities=[a],
            description=f"{display(rogue) if rogue else rogue_ip} is not a legitimate domain "
                        f"controller but pushed directory-object changes to {display(dc)}: it "
                        f"{fact}.",
            entities=refs(host_ref(rogue, "rogue computer", rogue_ip),
                          ip_ref(rogue_ip, "rogue IP"), user_ref(a.actor, "actor"),
                          host_ref(dc, "domain controller", dc_ip)),
            evidence={k: v for k, v in (("rogue_ip", rogue_ip), ("rogue_computer", rogue),
                                        ("domain_controller", display(dc)),
                                        ("operation", a.fields.get("operation")),
                                        ("outcome", a.outcome)) if v},
        )
