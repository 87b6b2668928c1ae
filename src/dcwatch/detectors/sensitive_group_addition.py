"""Suspicious additions to sensitive groups: MDI external ID 2024.

A member is added to a sensitive group (Domain Admins, Enterprise Admins, Administrators, ...
recognised by well-known SID/RID, never by localized name, plus groups tagged --sensitive).
Sources: events 4728/4732/4756 on a DC. Live mode learns for 4 weeks per DC which actor
modifies which groups and then alerts on additions outside that profile; ``scan`` and threshold
Low alert on every addition. Removals are recorded as activities only.
Known false positive: planned administration; close as benign or exclude the actor.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors.base import (
    Detector,
    computer_ref,
    host_name,
    refs,
    user_ref,
)
from dcwatch.entities.resolver import short
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity


class SensitiveGroupAddition(Detector):
    slug: ClassVar[str] = "sensitive-group-addition"
    external_id: ClassVar[int] = 2024
    title: ClassVar[str] = "Suspicious additions to sensitive groups"
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1098", "T1484")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.GROUP_MEMBER_ADDED})
    learning_period: ClassVar[timedelta | None] = timedelta(weeks=4)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._profile: set[tuple[str, str]] = set()  # (actor, group) seen while learning

    def observe(self, a: Activity) -> list[AlertDraft]:
        group = self.resolver.sensitive_group(a.target)
        if not group:
            return []
        actor = (str(a.actor) if a.actor else "?").lower()
        gkey = (a.target.sid or group).lower() if a.target else group.lower()
        if self.learning(short(a.host) or "?", a.ts):
            self._profile.add((actor, gkey))
            return []
        if self.ctx.config.mode == "live" and self.threshold == "high" and \
                (actor, gkey) in self._profile:
            return []
        member = self._member(a)
        dc = host_name(a.host)
        who = str(a.actor) if a.actor else "An unknown account"
        return [self.draft(
            key=actor,
            activities=[a],
            description=f"{who} made uncharacteristic changes to the membership of sensitive "
                        f"groups: added {member} to {group} on {dc}.",
            entities=refs(user_ref(a.actor, "attacker"),
                          EntityRef("user", member, "added member",
                                    sid=a.fields.get("member_sid")),
                          EntityRef("group", group, "sensitive group",
                                    sid=a.target.sid if a.target else None),
                          computer_ref(a.host, "domain controller")),
            evidence={"additions": [{"group": group, "member": member, "dc": dc,
                                     "time": a.ts.isoformat()}]},
            require_dc=a.host,
        )]

    def _member(self, a: Activity) -> str:
        name = a.fields.get("member_name")
        sid = a.fields.get("member_sid")
        if name and name.upper().startswith("CN="):
            return name[3:].split(",", 1)[0].replace("\\", "")
        if name:
            return name
        known = self.resolver.account_name(sid)
        if known:
            return known
        return str(Account(None, None, sid)) if sid else "an unknown member"
