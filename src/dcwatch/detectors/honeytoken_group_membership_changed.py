"""Honeytoken group membership changed: MDI external ID 2428.

A user tagged as honeytoken is added to or removed from a group (an attacker "activating" the
decoy by making it privileged, or an insider cleaning it up).
Sources: events 4728/4729/4732/4733/4756/4757 (and the distribution-group variants) whose
member is the honeytoken; 5136 on a group's ``member`` attribute with its DN; LDAP modify of
``member`` on the wire; Samba groupChange and dsdbChange records.
Known false positive: administrators maintaining the decoy (exclude them).
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._common import (
    LdapBinds,
    NetworkLogons,
    actor_text,
    cn_of,
    display,
    ds_change,
    host_ref,
    named,
)
from dcwatch.detectors._honeytoken import Honeytokens
from dcwatch.detectors.base import DetectionContext, Detector, ip_ref, refs, user_ref
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind


class HoneytokenGroupMembershipChanged(Detector):
    slug: ClassVar[str] = "honeytoken-group-membership-changed"
    external_id: ClassVar[int] = 2428
    title: ClassVar[str] = "Honeytoken group membership changed"
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1098",)
    handles: ClassVar[frozenset[str]] = frozenset({
        K.GROUP_MEMBER_ADDED, K.GROUP_MEMBER_REMOVED, K.DS_MODIFY, K.LDAP_BIND, K.LOGON})

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.honey = Honeytokens(self.resolver)
        self.binds = self.shared("ldap-binds", LdapBinds)
        self.logons = self.shared("network-logons", NetworkLogons)

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is K.LDAP_BIND:
            self.binds.observe(a)
            return []
        if a.kind is K.LOGON:
            self.logons.observe(a)
            return []
        if not self.honey.active:
            return []
        if a.kind is K.DS_MODIFY:
            c = ds_change(a, self.resolver, self.binds, self.logons)
            if c is None or not c.has("member"):
                return []
            out = []
            for v in c.values.get("member") or []:
                token = self.honey.match(v[v.upper().find("CN="):] if "CN=" in v.upper()
                                         else v)
                if token:
                    added = c.ops["member"] != "delete"
                    out += self._fire(a, token, Account(c.cn), c.actor, added, c.dc,
                                      c.src_ip, c.src_host)
            return out
        f = a.fields
        member = str(f.get("member_name") or "")
        token = self.honey.match(member) or self.honey.sid(f.get("member_sid"))
        if token is None:
            return []
        src = self.logons.source_of(a.host, f.get("logon_id"), a.ts, a.actor)
        if src == (None, None):
            src = self.resolver.session_source(a.host, f.get("logon_id")) or (None, None)
        group = a.target or Account(cn_of(f.get("group_dn")))
        return self._fire(a, token, group, named(self.resolver, a.actor),
                          a.kind is K.GROUP_MEMBER_ADDED, a.host, *src)

    def _fire(self, a: Activity, token: str, group: Account, actor: Account | None,
              added: bool, dc: str | None, ip: str | None,
              ws: str | None) -> list[AlertDraft]:
        gname = group.name or group.sid or "a group"
        sensitive = self.resolver.sensitive_group(group)
        verb = "added" if added else "removed"
        prep = "to" if added else "from"
        who = actor_text(actor)
        return [self.draft(
            key=f"{token}|{(group.name or group.sid or '?').lower()}",
            activities=[a],
            description=f"{who} {verb} honeytoken {token} {prep} {gname} on {display(dc)}.",
            entities=refs(EntityRef("user", token, "honeytoken"), user_ref(actor, "actor"),
                          EntityRef("group", gname, "group", sid=group.sid),
                          host_ref(ws, "source computer", ip),
                          ip_ref(ip, "source IP") if ws else None,
                          host_ref(dc, "domain controller")),
            evidence={k: v for k, v in (
                ("honeytoken", token), ("group", gname), ("change", verb),
                # every change while the alert is open (the engine appends new list items;
                # to the second, so one change logged twice - Samba's groupChange and
                # dsdbChange of ``member`` - is listed once)
                ("changes", [{"change": verb, "actor": who,
                              "time": a.ts.replace(microsecond=0).isoformat()}]),
                ("sensitive_group", sensitive), ("actor", who),
                ("domain_controller", display(dc)), ("source_ip", ip),
                ("source_computer", display(ws) if ws else None),
                ("source", f"event {a.event_id}" if a.event_id else a.protocol)) if v},
            severity=Severity.HIGH,
        )]
