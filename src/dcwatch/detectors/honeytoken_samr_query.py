"""Honeytoken was queried via SAM-R: MDI external ID 2439.

A SAM-R look-up or query names or opens a user tagged as honeytoken: someone is studying the
decoy (reconnaissance before using it).
Sources: ``rpc.call`` samr on the wire: SamrLookupNamesInDomain naming the honeytoken,
SamrLookupIdsInDomain / SamrOpenUser with its RID, SamrQueryInformationUser(2) /
SamrGetGroupsForUser on a handle opened for it (MS-SAMR 3.1.5); event 4661 (SAM_USER handle
on its SID) in a network session. The honeytoken's RID is learned from its SID (any record
naming both) or from the look-up reply.
Known false positives: administrators reviewing the decoy; tools that resolve every account
one by one (exclude them). DCs and local service identities are ignored.
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._common import (
    NetworkLogons,
    display,
    host_ref,
    is_remote_ip,
    is_service_identity,
    rpc_args,
    rpc_op,
    rpc_source,
    rpc_target,
    source_key,
)
from dcwatch.detectors._honeytoken import Honeytokens
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, ip_ref, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind
# MS-SAMR 3.1.5 opnums, for producers that give no operation name
SAMR_OPS = {17: "SamrLookupNamesInDomain", 18: "SamrLookupIdsInDomain", 34: "SamrOpenUser",
            36: "SamrQueryInformationUser", 47: "SamrQueryInformationUser2",
            39: "SamrGetGroupsForUser"}
_HANDLE_OPS = frozenset({"queryinformationuser", "queryinformationuser2", "getgroupsforuser"})
_PHRASES = {"lookupnamesindomain": "looked up the name of", "lookupidsindomain":
            "resolved the RID of", "openuser": "opened", "queryinformationuser": "read",
            "queryinformationuser2": "read", "getgroupsforuser": "listed the groups of"}


class HoneytokenSamrQuery(Detector):
    slug: ClassVar[str] = "honeytoken-samr-query"
    external_id: ClassVar[int] = 2439
    title: ClassVar[str] = "Honeytoken was queried via SAM-R"
    phase: ClassVar[Phase] = Phase.RECONNAISSANCE
    severity: ClassVar[Severity] = Severity.LOW
    mitre: ClassVar[tuple[str, ...]] = ("T1087", "T1087.002")
    handles: ClassVar[frozenset[str]] = frozenset({K.RPC_CALL, K.SAM_ACCESS, K.LOGON})

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.honey = Honeytokens(self.resolver)
        self.logons = NetworkLogons()
        self._ops: BoundedDict[dict[str, None]] = BoundedDict(10_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        if not self.honey.active:
            return []
        if a.kind is K.LOGON:
            self.logons.observe(a)
            return []
        if a.kind is K.SAM_ACCESS:
            return self._event(a)
        if str(a.fields.get("interface") or "").lower() != "samr" or a.fields.get("etw"):
            return []
        return self._wire(a)

    def _ignored(self, a: Activity) -> bool:
        if a.actor is None:
            return False
        return (is_service_identity(a.actor) and not a.actor.is_machine) or \
            bool(self.resolver.is_dc_account(a.actor))

    def _wire(self, a: Activity) -> list[AlertDraft]:
        op = rpc_op(a, SAMR_OPS)
        if op not in _PHRASES or self._ignored(a):
            return []
        args = rpc_args(a)
        token = None
        if op == "lookupnamesindomain":
            names = [str(n) for n in args.get("names") or []]
            rids = args.get("rids") or []
            for i, n in enumerate(names):
                hit = self.honey.match(n)
                if hit:
                    token = token or hit
                    if i < len(rids) and isinstance(rids[i], int):
                        self.honey.rids[rids[i]] = hit
        elif op == "lookupidsindomain":
            for r in args.get("rids") or []:
                token = token or self.honey.rid(r)
            for n in args.get("names") or []:
                token = token or self.honey.match(str(n) if n else None)
        elif op == "openuser":
            token = self.honey.rid(args.get("rid")) if args.get("rid") is not None else None
        elif op in _HANDLE_OPS and str(args.get("handle_of") or "").startswith("rid:"):
            token = self.honey.rid(args["handle_of"])
        if token is None:
            return []
        ip, ws = rpc_source(a, self.resolver)
        return self._fire(a, token, op, ip, ws, rpc_target(a, self.resolver))

    def _event(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        if str(f.get("object_type") or "").upper() != "SAM_USER" or self._ignored(a) or \
                a.actor is None:
            return []
        token = self.honey.sid(str(f.get("object_name") or ""))
        if token is None:
            return []
        sess = self.logons.session(a.host, f.get("logon_id"))
        if sess is not None and not sess.network:
            return []  # console work on the DC itself: an administrator, not reconnaissance
        ip, ws = self.logons.source_of(a.host, f.get("logon_id"), a.ts, a.actor)
        if ip is None and ws is None:
            ip, ws = self.resolver.session_source(a.host, f.get("logon_id")) or (None, None)
        return self._fire(a, token, "openuser", ip if is_remote_ip(ip) else None, ws, a.host)

    def _fire(self, a: Activity, token: str, op: str, ip: str | None, ws: str | None,
              dc: str | None) -> list[AlertDraft]:
        key = f"{token}|{source_key(self.resolver, ip, ws)}"
        who = str(a.actor) if a.actor else "An unknown user"
        lines = self._ops.setdefault(key, {})
        verb = {"success": "", "failure": " (failed)"}.get(a.outcome or "", "")
        lines[f"{_PHRASES[op]} {token}{verb}"] = None
        src = display(ws) if ws else (ip or "an unknown computer")
        return [self.draft(
            key=key,
            activities=[a],
            description=f"{who} on {src} queried honeytoken {token} over SAM-R against "
                        f"{display(dc)}: " + "; ".join(lines) + ".",
            entities=refs(EntityRef("user", token, "honeytoken"),
                          user_ref(a.actor, "attacker"), host_ref(ws, "source computer", ip),
                          ip_ref(ip, "source IP") if ws else None,
                          host_ref(dc, "domain controller")),
            evidence={k: v for k, v in (
                ("honeytoken", token),
                ("operations", [{"operation": a.fields.get("operation") or op,
                                 "user": who, "outcome": a.outcome or "unknown",
                                 "time": a.ts.isoformat(),
                                 "source": "event 4661" if a.protocol == "event" else "SAM-R"}]),
                ("source_ip", ip), ("source_computer", display(ws) if ws else None),
                ("domain_controller", display(dc))) if v},
        )]
