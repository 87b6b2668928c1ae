"""Suspected SID-History injection: MDI external ID 1106.

A SID is added to an account's sIDHistory: the account then carries that SID's privileges in
every ticket (a same-domain Domain Admins SID is never a migration artefact).
Sources: events 4765 (SID History added) and 4766 (attempt failed), 4738 with a SID History
value, 5136 on sIDHistory (value added); DRSUAPI IDL_DRSAddSidHistory (opnum 20) on the wire.
Severity high when the SID resolves to a sensitive group or account, else medium.
Known false positive: sanctioned domain migrations (ADMT): exclude the migration account.
"""

from __future__ import annotations

import re
from typing import ClassVar

from dcwatch.detectors._common import display, host_ref, rpc_op, rpc_target
from dcwatch.detectors.base import Detector, refs, user_ref
from dcwatch.entities.resolver import SENSITIVE_BUILTIN, SENSITIVE_RIDS, SENSITIVE_USER_RIDS, rid
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind
_SID = re.compile(r"S-1-5-[0-9-]+")
DRS_ADD_SID_HISTORY = {20: "IDL_DRSAddSidHistory"}  # MS-DRSR 4.1.2


class SidHistoryInjection(Detector):
    slug: ClassVar[str] = "sid-history-injection"
    external_id: ClassVar[int] = 1106
    title: ClassVar[str] = "Suspected SID-History injection"
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1134", "T1134.005")
    handles: ClassVar[frozenset[str]] = frozenset({
        K.SID_HISTORY_ADDED, K.ACCOUNT_CHANGED, K.DS_MODIFY, K.RPC_CALL})

    def observe(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        if a.kind is K.SID_HISTORY_ADDED:
            sids = _SID.findall(str(f.get("source_sid") or "")) or \
                _SID.findall(str(f.get("sid_list") or ""))
            names = {s: f.get("source_user") for s in sids}
            target, dc = a.target, a.host
        elif a.kind is K.ACCOUNT_CHANGED:
            sids = _SID.findall(str(f.get("sid_history") or ""))
            names, target, dc = {}, a.target, a.host
        elif a.kind is K.DS_MODIFY:
            attrs = [str(x).lower() for x in f.get("attributes") or []]
            if "sidhistory" not in attrs or f.get("operation") != "value_added":
                return []
            sids = _SID.findall(" ".join(str(v) for v in (f.get("values") or {}).values()))
            dn = str(f.get("dn") or "")
            names = {}
            target = Account(dn.split(",", 1)[0].split("=", 1)[-1] if dn else None)
            dc = a.host
        else:
            if str(f.get("interface") or "").lower() != "drsuapi" or f.get("etw") or \
                    rpc_op(a, DRS_ADD_SID_HISTORY) != "addsidhistory":
                return []
            sids, names, target = ["(not visible: encrypted stub)"], {}, None
            dc = rpc_target(a, self.resolver)
        if not sids:
            return []
        resolved = {s: self._resolve(s, names.get(s)) for s in sids}
        sensitive = [s for s in sids if self._sensitive(s)]
        who = str(a.actor) if a.actor else "An unknown user"
        tname = str(target) if target and (target.name or target.sid) else "an account"
        added = ", ".join(f"{s} ({n})" if n else s for s, n in resolved.items())
        verb = "tried to add" if a.outcome == "failure" else "added"
        return [self.draft(
            key=f"{(target.sid or target.name or '?') if target else '?'}".lower(),
            activities=[a],
            description=f"{who} {verb} SID History {added} to {tname} on {display(dc)}.",
            entities=refs(user_ref(a.actor, "actor"), user_ref(target, "modified account"),
                          host_ref(dc, "domain controller"),
                          *[EntityRef("group", resolved[s] or s, "SID added", sid=s)
                            for s in sids if s.startswith("S-")]),
            evidence={"sids_added": [{"sid": s, "resolves_to": resolved[s],
                                      "sensitive": s in sensitive} for s in sids],
                      "account": tname, "domain_controller": display(dc),
                      "outcome": a.outcome or "success"},
            severity=Severity.HIGH if sensitive else Severity.MEDIUM,
            require_dc=a.host if a.protocol == "event" else None,
        )]

    def _resolve(self, sid: str, hint: str | None) -> str | None:
        if hint:
            return hint
        known = self.resolver.account_name(sid)
        if known:
            return known
        if sid in SENSITIVE_BUILTIN:
            return f"BUILTIN\\{SENSITIVE_BUILTIN[sid]}"
        r = rid(sid)
        return SENSITIVE_RIDS.get(r or -1) or SENSITIVE_USER_RIDS.get(r or -1)

    def _sensitive(self, sid: str) -> bool:
        acct = Account(None, None, sid)
        return bool(self.resolver.sensitive_group(acct) or self.resolver.sensitive_account(acct))
