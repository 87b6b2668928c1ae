"""Honeytoken user attributes modified: MDI external ID 2427.

Any attribute of an account tagged as honeytoken is changed (e.g. an attacker setting a phone
number or an SPN on the decoy, resetting its password, enabling it).
Sources: event 5136 on the honeytoken's object (old/new values), 4738/4742 (account changed),
4722/4725 (enabled/disabled), 4723/4724 (password change/reset), 4781 (renamed); LDAP
ModifyRequest on the wire; Samba dsdbChange. The DC's logon bookkeeping (lastLogon,
logonCount, badPwdCount, ...) and changes made by SYSTEM or by a DC are not changes anyone made.
Known false positive: administrators maintaining the decoy (exclude them).
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._common import (
    LdapBinds,
    NetworkLogons,
    actor_text,
    display,
    ds_change,
    host_ref,
    named,
)
from dcwatch.detectors._honeytoken import Honeytokens
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, ip_ref, refs, user_ref
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind
SYSTEM_SID = "S-1-5-18"
_ACCOUNT_KINDS = {
    K.ACCOUNT_CHANGED: "changed", K.COMPUTER_CHANGED: "changed",
    K.PASSWORD_RESET: "reset the password of", K.PASSWORD_CHANGED: "changed the password of",
    K.ACCOUNT_ENABLED: "enabled", K.ACCOUNT_DISABLED: "disabled", K.ACCOUNT_RENAMED: "renamed",
}
# 4738/4742 fields that carry a new value when the attribute changed
_EVENT_ATTRS = {"sam_account_name": "sAMAccountName", "spns": "servicePrincipalName",
                "dns_host_name": "dNSHostName", "sid_history": "sIDHistory",
                "allowed_to_delegate_to": "msDS-AllowedToDelegateTo",
                "uac_changes": "userAccountControl", "primary_group_id": "primaryGroupID",
                "password_last_set": "pwdLastSet", "display_name": "displayName",
                "upn": "userPrincipalName", "new_name": "sAMAccountName"}


class HoneytokenAttributeModified(Detector):
    slug: ClassVar[str] = "honeytoken-attribute-modified"
    external_id: ClassVar[int] = 2427
    title: ClassVar[str] = "Honeytoken user attributes modified"
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1098",)
    handles: ClassVar[frozenset[str]] = frozenset({K.DS_MODIFY, K.LDAP_BIND, K.LOGON,
                                                   *_ACCOUNT_KINDS})

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.honey = Honeytokens(self.resolver)
        self.binds = self.shared("ldap-binds", LdapBinds)
        self.logons = self.shared("network-logons", NetworkLogons)
        self._changes: BoundedDict[dict[str, None]] = BoundedDict(10_000)

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
            if c is None:
                return []
            token = self.honey.match(c.dn)
            attrs = c.meaningful()
            if token is None or not attrs or "member" in c.ops:
                return []  # a group's member list is 2428's business
            parts = []
            for name in attrs:
                vals = c.values.get(name.lower()) or []
                op = c.ops[name.lower()]
                shown = (f" {':=' if op != 'delete' else 'removed'} "
                         f"{', '.join(vals)[:120]}") if vals else ""
                parts.append(f"{name}{shown}")
            return self._fire(a, token, c.actor, "modified", parts, c.dc, c.src_ip,
                              c.src_host)
        token = self.honey.account(a.target)
        if token is None:
            return []
        f = a.fields
        parts = [f"{label} = {str(f[k])[:120]}" for k, label in _EVENT_ATTRS.items()
                 if f.get(k)]
        if a.kind is K.PASSWORD_RESET or a.kind is K.PASSWORD_CHANGED:
            parts.append("password")
        src = self.logons.source_of(a.host, f.get("logon_id"), a.ts, a.actor)
        if src == (None, None):
            src = self.resolver.session_source(a.host, f.get("logon_id")) or (None, None)
        return self._fire(a, token, named(self.resolver, a.actor), _ACCOUNT_KINDS[a.kind],
                          parts, a.host, *src)

    def _fire(self, a: Activity, token: str, actor: Account | None, verb: str,
              parts: list[str], dc: str | None, ip: str | None,
              ws: str | None) -> list[AlertDraft]:
        if actor is not None and (actor.sid == SYSTEM_SID or
                                  self.resolver.is_dc_account(actor)):
            return []  # the DC maintaining the object itself
        changes = self._changes.setdefault(token, {})
        who = actor_text(actor)
        line = f"{who} {verb} {token}" + (f": {'; '.join(parts)}" if parts else "")
        if len(changes) < 50:
            changes[line] = None
        return [self.draft(
            key=token,
            activities=[a],
            description=f"Honeytoken {token} was modified on {display(dc)}:\n"
                        + "\n".join(changes),
            entities=refs(EntityRef("user", token, "honeytoken"), user_ref(actor, "actor"),
                          host_ref(ws, "source computer", ip),
                          ip_ref(ip, "source IP") if ws else None,
                          host_ref(dc, "domain controller")),
            evidence={k: v for k, v in (
                ("honeytoken", token),
                ("changes", [{"actor": who, "change": verb, "attributes": parts,
                              "time": a.ts.isoformat(),
                              "source": f"event {a.event_id}" if a.event_id else a.protocol}]),
                ("domain_controller", display(dc)), ("source_ip", ip),
                ("source_computer", display(ws) if ws else None)) if v},
        )]
