"""User and Group membership reconnaissance (SAMR): MDI external ID 2021.

A user enumerates all users/groups of the domain over SAM-R, or queries sensitive groups and
accounts (Domain Admins, Enterprise Admins, Administrators, ... recognised by well-known SID or
RID, never by localized name).
Sources: event 4661 (SAM_GROUP / SAM_ALIAS / SAM_USER handle opened on a sensitive SID by a
user in a network session); ``rpc.call`` samr on the wire: SamrEnumerate{Users,Groups,Aliases}
InDomain, SamrQueryDisplayInformation*, SamrOpen{Group,Alias,User} / SamrGetMembersIn{Group,
Alias} / SamrLookupIdsInDomain on a sensitive RID, SamrLookupNamesInDomain naming a sensitive
account.
Live mode learns for 4 weeks per DC which source makes which queries and then alerts on new
ones; ``scan`` and thresholds Medium/Low alert immediately.
Known false positives: admin workstations, management and audit tools; machine accounts (they
query groups to build tokens and apply policy) are ignored.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from dcwatch.detectors._common import (
    NetworkLogons,
    dc_key,
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
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    ip_ref,
    refs,
    user_ref,
)
from dcwatch.entities.resolver import SENSITIVE_BUILTIN, SENSITIVE_RIDS, SENSITIVE_USER_RIDS, short
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind

# MS-SAMR 3.1.5 opnums (for producers that give no operation name)
SAMR_OPS = {11: "SamrEnumerateGroupsInDomain", 13: "SamrEnumerateUsersInDomain",
            15: "SamrEnumerateAliasesInDomain", 17: "SamrLookupNamesInDomain",
            18: "SamrLookupIdsInDomain", 19: "SamrOpenGroup", 25: "SamrGetMembersInGroup",
            27: "SamrOpenAlias", 33: "SamrGetMembersInAlias", 34: "SamrOpenUser",
            40: "SamrQueryDisplayInformation", 48: "SamrQueryDisplayInformation2",
            51: "SamrQueryDisplayInformation3"}
ENUMERATIONS = {"enumerateusersindomain": "users", "enumerategroupsindomain": "groups",
                "enumeratealiasesindomain": "local groups (aliases)",
                "querydisplayinformation": "users", "querydisplayinformation2": "users",
                "querydisplayinformation3": "users"}
RID_QUERIES = frozenset({"opengroup", "openalias", "openuser", "getmembersingroup",
                         "getmembersinalias", "lookupidsindomain", "querydisplayinformation"})
# Builtin aliases are opened by RID in the builtin domain (S-1-5-32-<rid>)
BUILTIN_RIDS = {int(s.rsplit("-", 1)[1]): n for s, n in SENSITIVE_BUILTIN.items()}


def sensitive_rid(rid: Any) -> str | None:
    """Name of a sensitive well-known RID (domain group, builtin alias or account)."""
    try:
        r = int(str(rid).removeprefix("rid:"))
    except ValueError:
        return None
    return SENSITIVE_RIDS.get(r) or BUILTIN_RIDS.get(r) or SENSITIVE_USER_RIDS.get(r)


class SamrReconnaissance(Detector):
    slug: ClassVar[str] = "samr-reconnaissance"
    external_id: ClassVar[int] = 2021
    title: ClassVar[str] = "User and Group membership reconnaissance (SAMR)"
    phase: ClassVar[Phase] = Phase.RECONNAISSANCE
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1087", "T1069", "T1087.002", "T1069.002")
    handles: ClassVar[frozenset[str]] = frozenset({K.SAM_ACCESS, K.RPC_CALL,
                                                   K.LOGON})
    learning_period: ClassVar[timedelta | None] = timedelta(weeks=4)
    max_pending: ClassVar[int] = 10_000

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.logons = NetworkLogons()
        self._profile: BoundedDict[set[str]] = BoundedDict(100_000)  # source|dc -> queries
        self._lines: BoundedDict[dict[str, None]] = BoundedDict(10_000)
        self._pending: list[tuple[Activity, str]] = []

    def observe(self, a: Activity) -> list[AlertDraft]:
        out = self._retry(final=False) if self._pending else []
        if a.kind is K.LOGON:
            self.logons.observe(a)
        elif a.kind is K.SAM_ACCESS:
            out += self._event(a)
        elif a.kind is K.RPC_CALL and str(a.fields.get("interface") or "").lower() == "samr" \
                and not a.fields.get("etw"):
            out += self._wire(a)
        return out

    def finish(self) -> list[AlertDraft]:
        return self._retry(final=True)

    # --- 4661 -----------------------------------------------------------------------------

    def _event(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        otype = str(f.get("object_type") or "").upper()
        sid = str(f.get("object_name") or "")
        if otype not in ("SAM_GROUP", "SAM_ALIAS", "SAM_USER") or not sid.startswith("S-1-5-"):
            return []
        if a.actor is None or is_service_identity(a.actor) or \
                self.resolver.local_account_host(a.host):
            return []
        target = Account(None, None, sid)
        name = self.resolver.sensitive_group(target) if otype != "SAM_USER" else None
        if otype == "SAM_USER":
            why = self.resolver.sensitive_account(target)
            name = (self.resolver.account_name(sid) or sid) if why else None
        if not name:
            return []
        sess = self.logons.session(a.host, f.get("logon_id"))
        if sess is not None and not sess.network:
            return []  # an interactive session on the DC itself: not reconnaissance from afar
        ip, ws = self.logons.source_of(a.host, f.get("logon_id"), a.ts, a.actor)
        if sess is None:
            src = self.resolver.session_source(a.host, f.get("logon_id"))
            if src is not None:
                ip, ws = src
            elif otype == "SAM_USER":
                return []  # a sensitive user opened from an unknown session: too common
        ip = ip if is_remote_ip(ip) else None
        if ip is None and ws is None and sess is not None and not is_remote_ip(sess.src_ip):
            return []
        query = f"query {name}"
        return self._fire(a, query, f"to query {name}", ip, ws, a.host, "success",
                          require_dc=a.host)

    # --- wire -----------------------------------------------------------------------------

    def _classify(self, a: Activity) -> tuple[str, str] | None:
        op = rpc_op(a, SAMR_OPS)
        args = rpc_args(a)
        if op in ENUMERATIONS and (op in ("enumerateusersindomain", "enumerategroupsindomain",
                                          "enumeratealiasesindomain")
                                   or args.get("info_class") in (None, 1, 2, 3, 4, 5)):
            what = ENUMERATIONS[op]
            return f"enumerate {what}", f"to enumerate all {what}"
        if op in RID_QUERIES:
            ra = args.get("rids")
            rids: list[Any] = ra if isinstance(ra, list) else []
            for cand in [args.get("rid"), args.get("handle_of"), *rids]:
                name = sensitive_rid(cand) if cand is not None else None
                if name:
                    return f"query {name}", f"to query {name}"
            return None
        if op == "lookupnamesindomain":
            for n in args.get("names") or []:
                acct = Account(str(n))
                if self.resolver.sensitive_account(acct) or self.resolver.sensitive_group(acct):
                    return f"query {n}", f"to query {n}"
            for r in args.get("rids") or []:
                name = sensitive_rid(r)
                if name:
                    return f"query {name}", f"to query {name}"
        return None

    def _wire(self, a: Activity) -> list[AlertDraft]:
        if a.actor is not None and is_service_identity(a.actor):
            return []
        c = self._classify(a)
        if c is None:
            return []
        status, _ = self.resolver.dc_status(a.dst_ip or a.dst_host)
        if status is False:
            return []
        if status is None:
            if len(self._pending) < self.max_pending:
                self._pending.append((a, c[0]))
            return []
        return self._wire_fire(a, c)

    def _retry(self, final: bool) -> list[AlertDraft]:
        out, keep = [], []
        for a, q in self._pending:
            status, _ = self.resolver.dc_status(a.dst_ip or a.dst_host)
            if status:
                c = self._classify(a)
                if c:
                    out += self._wire_fire(a, c)
            elif status is None and not final:
                keep.append((a, q))
            elif status is None and not self.resolver.knows_any_dc():
                # No DC in the data at all: the capture's server is the monitored DC.
                c = self._classify(a)
                for d in self._wire_fire(a, c) if c else []:
                    d.evidence["_assume_dc"] = False
                    out.append(d)
        self._pending = keep
        return out

    def _wire_fire(self, a: Activity, c: tuple[str, str]) -> list[AlertDraft]:
        ip, ws = rpc_source(a, self.resolver)
        return self._fire(a, c[0], c[1], ip, ws, rpc_target(a, self.resolver), a.outcome,
                          require_dc=a.dst_ip or a.dst_host)

    # --- learning and drafting --------------------------------------------------------------

    def _fire(self, a: Activity, query: str, phrase: str, ip: str | None, ws: str | None,
              dc: str | None, outcome: str | None, require_dc: str | None) -> list[AlertDraft]:
        src = source_key(self.resolver, ip, ws)
        key = f"{src}|{dc_key(dc)}"
        if self.learning(dc_key(dc), a.ts):
            self._profile.setdefault(key, set()).add(query)
            return []
        if query in self._profile.get(key, set()):
            return []  # learned: this source always made this query against this DC
        who = str(a.actor) if a.actor else "An unknown user"
        verb = {"success": "succeeded", "failure": "failed"}.get(outcome or "", "attempted")
        lines = self._lines.setdefault(key, {})
        lines[f"{who} {verb} {phrase}."] = None
        kind = "enumerations" if query.startswith("enumerate") else "queries"
        src_name = display(ws) if ws else (ip or "an unknown computer")
        return [self.draft(
            key=key,
            activities=[a],
            description=f"SAMR directory {kind} from {src_name} against {display(dc)}:\n"
                        + "\n".join(lines),
            entities=refs(user_ref(a.actor, "attacker"),
                          host_ref(ws, "source computer", ip),
                          ip_ref(ip, "source IP") if ws else None,
                          host_ref(dc, "domain controller"),
                          EntityRef("group", query[6:], "queried entity")
                          if query.startswith("query ") else None),
            evidence={k: v for k, v in (
                ("queries", [{"query": query, "user": who, "outcome": outcome or "unknown",
                              "time": a.ts.isoformat()}]),
                ("source_ip", ip), ("source_computer", short(ws) if ws else None),
                ("domain_controller", display(dc))) if v},
            require_dc=require_dc,
        )]
