"""Suspicious modification of a dNSHostName attribute (CVE-2022-26923): MDI external ID 2421.

"Certifried": a computer account's dNSHostName is set to the name of a domain controller (or
of another known computer), so that a Machine-template certificate requested for that account
is issued for the DC's name and then used for PKINIT as the DC. The attacker usually clears the
account's SPNs first (they would collide with the DC's): such a preceding SPN change on the
same object is reported as extra evidence.
Sources: events 4742 (DnsHostName) and 4741 (a computer created with it), 5136 on dNSHostName;
LDAP Modify/AddRequest on the wire; Samba dsdbChange. A rename that changes sAMAccountName to
the same new name in the same write is a legitimate host rename.
Known false positive: legitimate host renames (never to a DC's name).
"""

from __future__ import annotations

from datetime import datetime, timedelta
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
from dcwatch.entities.resolver import short
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind
SYSTEM_SID = "S-1-5-18"


class DnshostnameModification(Detector):
    slug: ClassVar[str] = "dnshostname-modification"
    external_id: ClassVar[int] = 2421
    title: ClassVar[str] = ("Suspicious modification of a dNSHostName attribute "
                            "(CVE-2022-26923)")
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1068", "T1134", "T1134.001")
    handles: ClassVar[frozenset[str]] = frozenset({
        K.DS_MODIFY, K.DS_CREATE, K.COMPUTER_CHANGED, K.COMPUTER_CREATED, K.LDAP_BIND,
        K.LOGON})
    spn_window: ClassVar[timedelta] = timedelta(hours=1)  # SPN clean-up before the change

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.binds = self.shared("ldap-binds", LdapBinds)
        self.logons = self.shared("network-logons", NetworkLogons)
        self._spn_change: BoundedDict[datetime] = BoundedDict(10_000)  # computer -> last

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is K.LDAP_BIND:
            self.binds.observe(a)
            return []
        if a.kind is K.LOGON:
            self.logons.observe(a)
            return []
        if a.kind in (K.DS_MODIFY, K.DS_CREATE):
            c = ds_change(a, self.resolver, self.binds, self.logons)
            if c is None:
                return []
            sams = c.values.get("samaccountname")
            sam = sams[0] if sams else None
            computer = (sam or c.cn).rstrip("$")
            if c.has("serviceprincipalname"):
                self._spn_change[computer.lower()] = a.ts
            if not c.adds("dnshostname"):
                return []
            out = []
            for v in c.values.get("dnshostname") or []:
                out += self._check(a, computer, v, c.actor, sam, c.dc, c.src_ip, c.src_host)
            return out
        f = a.fields
        computer = ((a.target.name if a.target else None) or "").rstrip("$")
        if not computer:
            return []
        if f.get("spns"):
            self._spn_change[computer.lower()] = a.ts
        if not f.get("dns_host_name"):
            return []
        src = self.logons.source_of(a.host, f.get("logon_id"), a.ts, a.actor)
        if src == (None, None):
            src = self.resolver.session_source(a.host, f.get("logon_id")) or (None, None)
        return self._check(a, computer, str(f["dns_host_name"]), named(self.resolver, a.actor),
                           f.get("sam_account_name"), a.host, *src)

    def _check(self, a: Activity, computer: str, value: str, actor: Account | None,
               new_sam: str | None, dc: str | None, ip: str | None,
               ws: str | None) -> list[AlertDraft]:
        label = short(value)
        if not label or label == computer.upper():
            return []
        if new_sam and new_sam.rstrip("$").upper() == label:
            return []  # a rename: the account's own name moved with it
        if actor is not None and actor.sid == SYSTEM_SID:
            return []
        is_dc, why = self.resolver.dc_status(value)
        if not is_dc:
            is_dc, why = self.resolver.dc_status(label)
        other = label in self.resolver.hosts
        if not is_dc and not other:
            return []
        whose = "the domain controller" if is_dc else "the existing computer"
        spn_ts = self._spn_change.get(computer.lower())
        spn_first = spn_ts is not None and timedelta(0) <= a.ts - spn_ts <= self.spn_window
        who = actor_text(actor)
        created = a.kind in (K.COMPUTER_CREATED, K.DS_CREATE)
        verb = (f"created computer {computer.upper()}$ with dNSHostName" if created else
                f"set the dNSHostName of {computer.upper()}$ to")
        return [self.draft(
            key=computer.lower(),
            activities=[a],
            description=f"{who} {verb} {value}, the name of "
                        f"{whose} {label}, on {display(dc)}"
                        + (" after clearing its SPNs" if spn_first else "") + ".",
            entities=refs(user_ref(actor, "actor"),
                          EntityRef("computer", computer.upper(), "modified computer"),
                          EntityRef("computer", label, "impersonated computer"),
                          host_ref(ws, "source computer", ip),
                          ip_ref(ip, "source IP") if ws else None,
                          host_ref(dc, "domain controller")),
            evidence={k: v for k, v in (
                ("computer", f"{computer.upper()}$"), ("new_dns_host_name", value),
                ("impersonated", label), ("impersonated_is_dc", bool(is_dc)),
                ("impersonated_role", why or None), ("actor", who),
                ("spn_changed_before", spn_first),
                ("actor_sensitive", self.resolver.sensitive_account(actor)),
                ("domain_controller", display(dc)), ("source_ip", ip),
                ("source_computer", display(ws) if ws else None),
                ("source", f"event {a.event_id}" if a.event_id else a.protocol)) if v},
        )]
