"""Suspected account takeover using shadow credentials: MDI external ID 2431.

Someone writes a key credential (``msDS-KeyCredentialLink``) to *another* account and can then
authenticate as it with PKINIT (Whisker, pyWhisker, ntlmrelayx --shadow-credentials). Devices
writing their own key, DCs and the provisioning identities of Windows Hello for Business /
device registration / Entra Connect (``provisioning_prefixes``, ``provisioning_accounts``) are
expected writers. A later PKINIT AS-REQ (PA-PK-AS-REQ, padata 16; 4768 pre-auth type 16) for
the target updates the alert: the takeover was used.
Sources: event 5136 (value added), event 4662 (WRITE_PROPERTY on the attribute's schema GUID);
LDAP ModifyRequest on the wire (actor: the identity bound on the connection); Samba dsdbChange.
Known false positive: WHfB / hybrid device registration under an identity not listed (add it).
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
    rpc_source,
)
from dcwatch.detectors._netcommon import acct_key
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, ip_ref, refs, user_ref
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind
ATTR = "msds-keycredentiallink"
ATTR_GUID = "5b47d60f-6090-40b2-9f37-2a4de88f3063"  # MS-ADA2 schemaIDGUID
WRITE_PROPERTY = 0x20  # MS-ADTS 5.1.3.2 RIGHT_DS_WRITE_PROPERTY
PA_PK_AS_REQ = 16  # RFC 4556 / MS-PKCA: PKINIT pre-authentication
SYSTEM_SID = "S-1-5-18"


class ShadowCredentials(Detector):
    slug: ClassVar[str] = "shadow-credentials"
    external_id: ClassVar[int] = 2431
    title: ClassVar[str] = "Suspected account takeover using shadow credentials"
    phase: ClassVar[Phase] = Phase.CREDENTIAL_ACCESS
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1003",)
    handles: ClassVar[frozenset[str]] = frozenset({K.DS_MODIFY, K.DS_ACCESS, K.KERBEROS_AS,
                                                   K.LDAP_BIND, K.LOGON})
    # Entra Connect (MSOL_*, ADSyncMSA*), Azure AD Kerberos / device registration: tunable
    provisioning_prefixes: ClassVar[tuple[str, ...]] = ("msol_", "adsyncmsa", "aad_")
    provisioning_accounts: ClassVar[tuple[str, ...]] = ()
    use_window: ClassVar[timedelta] = timedelta(hours=24)  # PKINIT follow-up

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.binds = self.shared("ldap-binds", LdapBinds)
        self.logons = self.shared("network-logons", NetworkLogons)
        self._guid_dn: BoundedDict[str] = BoundedDict(100_000)
        self._written: BoundedDict[tuple[datetime, str]] = BoundedDict(10_000)  # last write

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is K.LDAP_BIND:
            self.binds.observe(a)
            return []
        if a.kind is K.LOGON:
            self.logons.observe(a)
            return []
        if a.kind is K.KERBEROS_AS:
            return self._pkinit(a)
        if a.kind is K.DS_ACCESS:
            f = a.fields
            if ATTR_GUID not in (f.get("properties") or []) or \
                    not (f.get("access_mask") or 0) & WRITE_PROPERTY:
                return []
            dn = self._guid_dn.get(str(f.get("object_name") or "").lower())
            if dn is None:
                return []  # the object is unknown: cannot tell a device's own key write
            src = self.logons.source_of(a.host, f.get("logon_id"), a.ts, a.actor)
            return self._fire(a, named(self.resolver, a.actor), _cn(dn), a.host, *src)
        c = ds_change(a, self.resolver, self.binds, self.logons)
        if c is None:
            return []
        if a.fields.get("object_guid"):
            self._guid_dn[str(a.fields["object_guid"]).lower()] = c.dn
        if not c.adds(ATTR) or a.outcome == "failure":
            return []  # a refused write (insufficientAccessRights, ...) modified nothing
        return self._fire(a, c.actor, c.cn, c.dc, c.src_ip, c.src_host)

    def _expected(self, actor: Account, target: str) -> bool:
        name = acct_key(actor)
        if name.rstrip("$") == target.lower().rstrip("$"):
            return True  # a device (or user) registering its own key
        if actor.sid == SYSTEM_SID or self.resolver.is_dc_account(actor):
            return True
        if name in {p.lower() for p in self.provisioning_accounts}:
            return True
        return name.startswith(tuple(p.lower() for p in self.provisioning_prefixes))

    def _fire(self, a: Activity, actor: Account | None, target: str, dc: str | None,
              ip: str | None, ws: str | None) -> list[AlertDraft]:
        if actor is None or self._expected(actor, target):
            return []  # unknown writer (sealed LDAP): a device's own write is the usual case
        who = actor_text(actor)
        text = (f"{who} added a key credential (msDS-KeyCredentialLink) to {target} on "
                f"{display(dc)}: it can now authenticate as {target} with a certificate "
                f"(PKINIT).")
        self._written[target.lower().rstrip("$")] = (a.ts, text)
        return [self.draft(
            key=target.lower().rstrip("$"),
            activities=[a],
            description=text,
            entities=refs(user_ref(actor, "attacker"), EntityRef("user", target, "victim"),
                          host_ref(ws, "source computer", ip),
                          ip_ref(ip, "source IP") if ws else None,
                          host_ref(dc, "domain controller")),
            evidence={k: v for k, v in (
                ("actor", who), ("target", target),
                ("domain_controller", display(dc)), ("source_ip", ip),
                ("source_computer", display(ws) if ws else None),
                ("source", f"event {a.event_id}" if a.event_id else a.protocol)) if v},
        )]

    def _pkinit(self, a: Activity) -> list[AlertDraft]:
        if a.actor is None or a.outcome == "failure":
            return []
        target = acct_key(a.actor).rstrip("$")
        written = self._written.get(target)
        if written is None or not timedelta(0) <= a.ts - written[0] <= self.use_window:
            return []
        pa = a.fields.get("pa_types") or []
        if PA_PK_AS_REQ not in pa and a.fields.get("preauth_type") != PA_PK_AS_REQ:
            return []
        wire = a.protocol not in (None, "event", "samba")
        ip, ws = rpc_source(a, self.resolver) if wire else (a.src_ip, a.src_host)
        return [self.draft(
            key=target,
            activities=[a],
            description=f"{written[1]}\nThen {a.actor.name} authenticated with a certificate "
                        f"(PKINIT) from {display(ws) if ws else ip or 'an unknown computer'}.",
            entities=refs(user_ref(a.actor, "victim"), host_ref(ws, "source computer", ip)),
            evidence={"pkinit_logons": [{"time": a.ts.isoformat(), "source_ip": ip,
                                         "outcome": a.outcome or "unknown"}]},
        )]


def _cn(dn: str) -> str:
    return dn.split(",", 1)[0].split("=", 1)[-1] or dn
