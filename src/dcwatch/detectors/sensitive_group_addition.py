"""Suspicious additions to sensitive groups: MDI external ID 2024.

A member is added to a sensitive group (Domain Admins, Enterprise Admins, Administrators, ...
recognised by well-known SID/RID, never by localized name, plus groups tagged --sensitive).
Sources: events 4728/4732/4756 on a DC; Samba's group audit; directory writes that add
``member`` values to a group (LDAP modify on the wire, 5136, Samba dsdbChange), where a DN
that no source mapped to a SID falls back to the default names of the well-known groups.
Live mode learns for 4 weeks per DC which actor modifies which groups and then alerts on
additions outside that profile; ``scan`` and threshold Low alert on every addition. Removals
are recorded as activities only. Memory: one (actor, group) pair per profile entry.
Known false positive: planned administration; close as benign or exclude the actor.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import LdapBinds, ds_change, named
from dcwatch.detectors.base import (
    Detector,
    computer_ref,
    host_name,
    refs,
    user_ref,
)
from dcwatch.entities.resolver import cn_of, short
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity


class SensitiveGroupAddition(Detector):
    slug: ClassVar[str] = "sensitive-group-addition"
    external_id: ClassVar[int] = 2024
    title: ClassVar[str] = "Suspicious additions to sensitive groups"
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1098", "T1484")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.GROUP_MEMBER_ADDED,
                                                   ActivityKind.DS_MODIFY,
                                                   ActivityKind.LDAP_BIND})
    learning_period: ClassVar[timedelta | None] = timedelta(weeks=4)

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._profile: set[tuple[str, str]] = set()  # (actor, group) seen while learning
        # who bound each LDAP connection (modify carries no actor)
        self._binds = self.shared("ldap-binds", LdapBinds)

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is ActivityKind.LDAP_BIND:
            self._binds.observe(a)
            return []
        if a.kind is ActivityKind.DS_MODIFY:
            return self._directory_write(a)
        return self._addition(a, a.target, a.actor, self._member(a), a.fields.get("member_sid"),
                              a.host)

    def _directory_write(self, a: Activity) -> list[AlertDraft]:
        c = ds_change(a, self.resolver, self._binds)
        if c is None or not c.adds("member"):
            return []
        group = self.resolver.group_for_dn(c.dn)
        out: list[AlertDraft] = []
        for value in c.values.get("member") or ["an unknown member"]:
            dn, sid = _extended_dn(value)
            out += self._addition(a, group, c.actor, cn_of(dn) or dn, sid,
                                  c.dc or a.host or a.dst_ip)
        return out

    def _addition(self, a: Activity, target: Account | None, actor_acct: Account | None,
                  member: str, member_sid: str | None, dc_host: str | None
                  ) -> list[AlertDraft]:
        group = self.resolver.sensitive_group(target)
        if not group:
            return []
        actor_acct = named(self.resolver, actor_acct)
        # One actor, whichever way the source names them (DOMAIN\x, x@realm, or a SID).
        bare = (actor_acct.name or "") if actor_acct else ""
        actor = (bare.split("@", 1)[0] or (actor_acct.sid if actor_acct else "") or "?").lower()
        gkey = (target.sid or group).lower() if target else group.lower()
        if self.learning(short(dc_host) or "?", a.ts):
            self._profile.add((actor, gkey))
            return []
        if self.ctx.config.mode == "live" and self.threshold == "high" and \
                (actor, gkey) in self._profile:
            return []
        dc = host_name(self._dc_name(dc_host))
        who = str(actor_acct) if actor_acct else "An unknown account"
        return [self.draft(
            key=actor,
            activities=[a],
            description=f"{who} made uncharacteristic changes to the membership of sensitive "
                        f"groups: added {member} to {group} on {dc}.",
            entities=refs(user_ref(actor_acct, "attacker"),
                          EntityRef("user", member, "added member", sid=member_sid),
                          EntityRef("group", group, "sensitive group",
                                    sid=target.sid if target else None),
                          computer_ref(self._dc_name(dc_host), "domain controller")),
            # One entry per (group, member, DC): the same change seen in several sources
            # (event, Samba audit, LDAP on the wire) folds into one line.
            evidence={"additions": [{"group": group, "member": member, "dc": dc}]},
            require_dc=dc_host,
        )]

    def _dc_name(self, host: str | None) -> str | None:
        m = self.resolver.computer_for_ip(host)
        return m.host if m else host

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


def _extended_dn(value: str) -> tuple[str, str | None]:
    """``<GUID=..>;<SID=S-..>;CN=x,...`` (extended DN, as Samba logs it) -> (DN, SID)."""
    sid = None
    while value.startswith("<") and ">;" in value:
        part, value = value[1:].split(">;", 1)
        if part.upper().startswith("SID="):
            sid = part[4:]
    return value, sid
