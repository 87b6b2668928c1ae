"""Suspicious modification of domain AdminSdHolder: MDI external ID 2430.

The AdminSDHolder object (``CN=AdminSDHolder,CN=System,<domain>``) is the template SDProp
copies, every hour, onto every protected account and group (Domain Admins, Administrators,
krbtgt, ...): an ACE added there is persistence on all of them. Nothing in normal operation
writes it, so any change (above all ``nTSecurityDescriptor``) alerts.
Sources: event 5136 (the old and new SDDL come as a value-deleted / value-added pair with one
correlation ID: the added ACEs are reported with their trustee); LDAP ModifyRequest on the
wire; Samba dsdbChange.
Known false positive: authorized hardening or delegation changes (close as benign).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import (
    LdapBinds,
    NetworkLogons,
    ace_trustee,
    actor_text,
    display,
    ds_change,
    host_ref,
    sddl_aces,
)
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, ip_ref, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind
ADMINSDHOLDER = "cn=adminsdholder,cn=system,"  # MS-ADTS 3.1.1.6.1.2
SDDL_ALIASES = {"BA": "BUILTIN\\Administrators", "DA": "Domain Admins", "EA": "Enterprise Admins",
                "SY": "SYSTEM", "AU": "Authenticated Users", "WD": "Everyone",
                "PS": "SELF", "CA": "Cert Publishers", "RS": "RAS and IAS Servers"}


class AdminsdholderModification(Detector):
    slug: ClassVar[str] = "adminsdholder-modification"
    external_id: ClassVar[int] = 2430
    title: ClassVar[str] = "Suspicious modification of domain AdminSdHolder"
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1098",)
    handles: ClassVar[frozenset[str]] = frozenset({K.DS_MODIFY, K.LDAP_BIND, K.LOGON})
    update_window: ClassVar[timedelta] = timedelta(hours=1)

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.binds = LdapBinds()
        self.logons = NetworkLogons()
        self._old_sd: BoundedDict[str] = BoundedDict(1_000)  # correlation -> old SDDL

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is K.LDAP_BIND:
            self.binds.observe(a)
            return []
        if a.kind is K.LOGON:
            self.logons.observe(a)
            return []
        c = ds_change(a, self.resolver, self.binds, self.logons)
        if c is None or not c.dn.lower().startswith(ADMINSDHOLDER) or not c.meaningful():
            return []
        sd = (c.values.get("ntsecuritydescriptor") or [None])[0]
        corr = str(a.fields.get("correlation") or a.uid)
        added: list[str] = []
        if sd and c.ops.get("ntsecuritydescriptor") == "delete":
            self._old_sd[corr] = sd  # 5136 logs the old descriptor first, then the new one
        elif sd:
            old = set(sddl_aces(self._old_sd.pop(corr, "")))
            added = [ace for ace in sddl_aces(sd) if ace not in old]
        trustees = []
        for ace in added:
            t = ace_trustee(ace) or "?"
            name = SDDL_ALIASES.get(t) or self.resolver.account_name(t)
            trustees.append({"ace": f"({ace})", "trustee": t, "trustee_name": name})
        who = actor_text(c.actor)
        attrs = c.meaningful()
        what = ", ".join(attrs)
        detail = ""
        if trustees:
            detail = " adding ACE(s) for " + ", ".join(
                t["trustee_name"] or t["trustee"] for t in trustees)
        return [self.draft(
            key=c.dn.lower(),
            activities=[a],
            description=f"{who} modified {what} of {c.dn} on {display(c.dc)}{detail}.",
            entities=refs(user_ref(c.actor, "actor"), EntityRef("object", c.dn, "modified"),
                          host_ref(c.src_host, "source computer", c.src_ip),
                          ip_ref(c.src_ip, "source IP") if c.src_host else None,
                          host_ref(c.dc, "domain controller"),
                          *[EntityRef("user", t["trustee_name"] or t["trustee"], "granted",
                                      sid=t["trustee"] if t["trustee"].startswith("S-")
                                      else None) for t in trustees]),
            evidence={k: v for k, v in (
                ("object", c.dn), ("attributes", attrs), ("actor", who),
                ("added_aces", trustees), ("new_security_descriptor",
                                           sd if sd and c.ops.get("ntsecuritydescriptor")
                                           != "delete" else None),
                ("domain_controller", display(c.dc)), ("source_ip", c.src_ip),
                ("source_computer", display(c.src_host) if c.src_host else None),
                ("source", f"event {a.event_id}" if a.event_id else c.source)) if v},
        )]
