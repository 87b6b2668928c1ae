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


# Access rights that give control of an object (MS-ADTS 5.1.3.2, MS-DTYP 2.4.3): GENERIC_ALL,
# GENERIC_WRITE, WRITE_DAC, WRITE_OWNER; write-property / all-extended-rights count only when
# the ACE is not limited to one property or right (no object type)
CONTROL = 0x10000000 | 0x40000000 | 0x00040000 | 0x00080000
CONTROL_ANY_OBJECT = 0x20 | 0x100  # ADS_RIGHT_DS_WRITE_PROP, ADS_RIGHT_DS_CONTROL_ACCESS
SDDL_RIGHTS = {"GA": 0x10000000, "GW": 0x40000000, "WD": 0x40000, "WO": 0x80000, "WP": 0x20,
               "CR": 0x100, "FA": 0x1F01FF}
# Principals whose control of AdminSDHolder is the default: SYSTEM, administrators, DCs, owners
ADMIN_ALIASES = {"SY", "BA", "DA", "EA", "SA", "DD", "ED", "CO", "OW", "RO"}
ADMIN_SIDS = {"S-1-5-18", "S-1-5-32-544", "S-1-5-9", "S-1-3-0", "S-1-3-4"}
ADMIN_RIDS = {"500", "512", "516", "518", "519", "521", "498"}


def _rights(text: str) -> int:
    if text.lower().startswith("0x"):
        try:
            return int(text, 16)
        except ValueError:
            return 0
    return sum(SDDL_RIGHTS.get(text[i:i + 2], 0) for i in range(0, len(text), 2))


def _grants_control(ace: str, admin) -> bool:
    """An allow ACE (``A``/``OA``) with control rights for a trustee ``admin`` does not know."""
    parts = ace.split(";")
    if len(parts) < 6 or parts[0] not in ("A", "OA") or "IO" in parts[1]:
        return False
    mask = _rights(parts[2])
    control = mask & CONTROL or (not parts[3] and mask & CONTROL_ANY_OBJECT)
    return bool(control) and not admin(parts[5])


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
        self.binds = self.shared("ldap-binds", LdapBinds)
        self.logons = self.shared("network-logons", NetworkLogons)
        self._old_sd: BoundedDict[str] = BoundedDict(1_000)  # correlation -> old SDDL

    def _admin(self, trustee: str) -> bool:
        """SYSTEM, administrators and DCs (aliases, well-known SIDs, domain RIDs)."""
        t = trustee.upper()
        return (t in ADMIN_ALIASES or t in ADMIN_SIDS
                or (t.startswith("S-1-5-21-") and t.rsplit("-", 1)[-1] in ADMIN_RIDS))

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
        sds = c.values.get("ntsecuritydescriptor") or []
        sd = sds[0] if sds else None
        corr = str(a.fields.get("correlation") or a.uid)
        added: list[str] = []
        diffed = False
        if sd and c.ops.get("ntsecuritydescriptor") == "delete":
            self._old_sd[corr] = sd  # 5136 logs the old descriptor first, then the new one
        elif sd:
            old_sd = self._old_sd.pop(corr, None)
            diffed = old_sd is not None
            old = set(sddl_aces(old_sd))
            # without the old descriptor (an LDAP write on the wire carries only the new one):
            # the ACEs giving control of every protected account to someone not an admin
            added = [ace for ace in sddl_aces(sd) if ace not in old
                     and (diffed or _grants_control(ace, self._admin))]
        trustees: list[dict[str, str | None]] = []
        shown: list[tuple[str, str]] = []  # (name or SID, SID) of each trustee
        for ace in added:
            t = ace_trustee(ace) or "?"
            name = SDDL_ALIASES.get(t) or self.resolver.account_name(t)
            trustees.append({"ace": f"({ace})", "trustee": t, "trustee_name": name})
            shown.append((name or t, t))
        who = actor_text(c.actor)
        attrs = c.meaningful()
        what = ", ".join(attrs)
        detail = ""
        if trustees:
            detail = (" adding ACE(s) for " if diffed else
                      " - the new DACL grants control to ") + ", ".join(n for n, _ in shown)
        return [self.draft(
            key=c.dn.lower(),
            activities=[a],
            description=f"{who} modified {what} of {c.dn} on {display(c.dc)}{detail}.",
            entities=refs(user_ref(c.actor, "actor"), EntityRef("object", c.dn, "modified"),
                          host_ref(c.src_host, "source computer", c.src_ip),
                          ip_ref(c.src_ip, "source IP") if c.src_host else None,
                          host_ref(c.dc, "domain controller"),
                          *[EntityRef("user", n, "granted",
                                      sid=sid if sid.startswith("S-") else None)
                            for n, sid in shown]),
            evidence={k: v for k, v in (
                ("object", c.dn), ("attributes", attrs), ("actor", who),
                ("added_aces" if diffed else "control_granted_to_non_admins", trustees),
                ("new_security_descriptor",
                                           sd if sd and c.ops.get("ntsecuritydescriptor")
                                           != "delete" else None),
                ("domain_controller", display(c.dc)), ("source_ip", c.src_ip),
                ("source_computer", display(c.src_host) if c.src_host else None),
                ("source", f"event {a.event_id}" if a.event_id else c.source)) if v},
        )]
