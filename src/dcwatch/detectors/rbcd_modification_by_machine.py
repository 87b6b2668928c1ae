"""Suspicious modification of the Resource Based Constrained Delegation attribute by a machine
account: MDI external ID 2423.

A computer account writes ``msDS-AllowedToActOnBehalfOfOtherIdentity`` (RBCD) on an object:
people configure RBCD, machines do not, unless their authentication was relayed to LDAP (NTLM
relay of a coerced machine, KrbRelayUp writing RBCD on its own object). The granted principals
are read from the security descriptor value when the source shows it (5136).
Sources: event 5136 (value added), event 4662 (WRITE_PROPERTY on the attribute's schema GUID);
LDAP ModifyRequest on the wire (actor: the identity bound on the connection); Samba dsdbChange.
Known false positive: rare legitimate automation running as a computer account (exclude it).
"""

from __future__ import annotations

import re
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
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, ip_ref, refs, user_ref
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind
ATTR = "msds-allowedtoactonbehalfofotheridentity"
ATTR_GUID = "3f78c3e5-f79a-46bd-a0b8-9d18116ddc79"  # MS-ADA2 schemaIDGUID
WRITE_PROPERTY = 0x20  # MS-ADTS 5.1.3.2 RIGHT_DS_WRITE_PROPERTY
_SID = re.compile(r"S-1-5-21-[0-9-]+")


class RbcdModificationByMachine(Detector):
    slug: ClassVar[str] = "rbcd-modification-by-machine"
    external_id: ClassVar[int] = 2423
    title: ClassVar[str] = ("Suspicious modification of the Resource Based Constrained "
                            "Delegation attribute by a machine account")
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1484",)
    handles: ClassVar[frozenset[str]] = frozenset({K.DS_MODIFY, K.DS_ACCESS, K.LDAP_BIND,
                                                   K.LOGON})

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.binds = self.shared("ldap-binds", LdapBinds)
        self.logons = self.shared("network-logons", NetworkLogons)
        self._guid_dn: BoundedDict[str] = BoundedDict(100_000)  # objectGUID -> DN (5136)

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is K.LDAP_BIND:
            self.binds.observe(a)
            return []
        if a.kind is K.LOGON:
            self.logons.observe(a)
            return []
        if a.kind is K.DS_ACCESS:
            return self._access(a)
        c = ds_change(a, self.resolver, self.binds, self.logons)
        if c is None:
            return []
        if a.fields.get("object_guid"):
            self._guid_dn[str(a.fields["object_guid"]).lower()] = c.dn
        if not c.adds(ATTR) or a.outcome == "failure":
            return []  # a refused write (insufficientAccessRights, ...) modified nothing
        granted = sorted(set(_SID.findall(" ".join(c.values.get(ATTR) or []))))
        return self._fire(a, c.actor, c.cn, granted, c.dc, c.src_ip, c.src_host)

    def _access(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        if ATTR_GUID not in (f.get("properties") or []) or \
                not (f.get("access_mask") or 0) & WRITE_PROPERTY:
            return []
        obj = str(f.get("object_name") or "").lower()
        dn = self._guid_dn.get(obj)
        target = (dn.split(",", 1)[0].split("=", 1)[-1] if dn else None) or f"object {obj}"
        src = self.logons.source_of(a.host, f.get("logon_id"), a.ts, a.actor)
        return self._fire(a, named(self.resolver, a.actor), target, [], a.host, *src)

    def _fire(self, a: Activity, actor: Account | None, target: str, granted: list[str],
              dc: str | None, ip: str | None, ws: str | None) -> list[AlertDraft]:
        if actor is None or not actor.is_machine:
            return []
        names = {s: self.resolver.account_name(s) for s in granted}
        who = actor_text(actor)
        self_write = (actor.name or "").rstrip("$").lower() == target.rstrip("$").lower()
        to = ", ".join(f"{n} ({s})" if n else s for s, n in names.items())
        return [self.draft(
            key=target.lower(),
            activities=[a],
            description=f"Machine account {who} modified the resource-based constrained "
                        f"delegation (msDS-AllowedToActOnBehalfOfOtherIdentity) of {target}"
                        + (" (its own object)" if self_write else "")
                        + (f", granting {to}" if to else "") + f" on {display(dc)}.",
            entities=refs(user_ref(actor, "actor"), EntityRef("object", target, "modified"),
                          *[EntityRef("user", n or s, "granted delegation", sid=s)
                            for s, n in names.items()],
                          host_ref(ws, "source computer", ip),
                          ip_ref(ip, "source IP") if ws else None,
                          host_ref(dc, "domain controller")),
            evidence={k: v for k, v in (
                ("writer", who), ("object", target), ("self_write", self_write),
                ("granted", [{"sid": s, "name": n} for s, n in names.items()]),
                ("domain_controller", display(dc)), ("source_ip", ip),
                ("source_computer", display(ws) if ws else None),
                ("source", f"event {a.event_id}" if a.event_id else a.protocol)) if v},
        )]
