"""Suspected AD FS DKM key read: MDI external ID 2413.

The AD FS Distributed Key Manager (DKM) key, kept in the ``thumbnailPhoto`` attribute of a
contact object under ``CN=ADFS,CN=Microsoft,CN=Program Data,<domain>``, decrypts the farm's
token-signing certificate: whoever reads it can forge SAML tokens (Golden SAML).
Sources: 4662 with Read Property on thumbnailPhoto of a contact object (needs the documented
SACL on the ADFS container, which is the only place such reads are audited); on the wire or in
Directory Service 1644, an LDAP search based under the ADFS container that asks for (or filters
on) thumbnailPhoto.
Known false positive: the AD FS service account / gMSA and the farm servers' computer
accounts read the key routinely: machine and gMSA accounts (``$``) and the accounts listed in
``service_accounts`` stay quiet. Nothing on the wire tells a farm's user service account from an
administrator (MDI also has sensors on the AD FS servers), so it is configuration:
``dcwatch scan --tunable adfs-dkm-key-read.service_accounts=svc_adfs`` or a recording's
``scan-options.toml``. Backup or migration tooling: exclude its account.
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._common import (
    LdapBinds,
    actor_text,
    display,
    host_ref,
    is_remote_ip,
    named,
    rpc_source,
    rpc_target,
)
from dcwatch.detectors.base import DetectionContext, Detector, ip_ref, refs, user_ref
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

K = ActivityKind
THUMBNAIL_PHOTO = "8d3bca50-1d7e-11d0-a081-00aa006c33ed"  # MS-ADA3 thumbnailPhoto schemaIDGUID
CONTACT_CLASS = "5cb41ed0-0e4c-11d0-a286-00aa003049e2"  # MS-ADSC contact schemaIDGUID
READ_PROPERTY = 0x10  # MS-ADTS 5.1.3.2 ADS_RIGHT_DS_READ_PROP
ADFS_CONTAINER = "cn=adfs,cn=microsoft,cn=program data"


class AdfsDkmKeyRead(Detector):
    slug: ClassVar[str] = "adfs-dkm-key-read"
    external_id: ClassVar[int] = 2413
    title: ClassVar[str] = "Suspected AD FS DKM key read"
    phase: ClassVar[Phase] = Phase.CREDENTIAL_ACCESS
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1552", "T1552.004")
    handles: ClassVar[frozenset[str]] = frozenset({K.DS_ACCESS, K.LDAP_SEARCH, K.LDAP_BIND})

    # AD FS service accounts that are not gMSAs (sAMAccountName; DOMAIN\\name and UPN forms
    # accepted): configuration.
    service_accounts: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.binds = self.shared("ldap-binds", LdapBinds)
        self.service_names = frozenset(
            n.strip().lower().rpartition("\\")[2].partition("@")[0]
            for n in self.service_accounts if n.strip())

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is K.LDAP_BIND:
            self.binds.observe(a)
            return []
        if a.kind is K.DS_ACCESS:
            return self._access(a)
        return self._search(a)

    def _access(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        if (f.get("object_server") or "DS").upper() != "DS" or \
                THUMBNAIL_PHOTO not in (f.get("properties") or []) or \
                not (f.get("access_mask") or 0) & READ_PROPERTY:
            return []
        obj = str(f.get("object_name") or "")
        if f.get("object_type") != CONTACT_CLASS and ADFS_CONTAINER not in obj.lower():
            return []
        src = self.resolver.session_source(a.host, f.get("logon_id"))
        ip, ws = src if src else (None, None)
        return self._fire(a, named(self.resolver, a.actor), ip if is_remote_ip(ip) else None,
                          ws, a.host, obj, "Read Property on thumbnailPhoto (event 4662)")

    def _search(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        base = str(f.get("base_dn") or f.get("base") or "")
        if ADFS_CONTAINER not in base.lower():
            return []
        attrs = f.get("attributes")
        wanted = " ".join(attrs) if isinstance(attrs, list) else str(attrs or "")
        if "thumbnailphoto" not in (wanted + " " + str(f.get("filter") or "")).lower():
            return []
        wire = a.protocol != "event"
        ip, ws = rpc_source(a, self.resolver) if wire else (a.src_ip, a.src_host)
        dc = rpc_target(a, self.resolver) if wire else a.host
        actor = self.binds.actor(a) if wire else a.actor
        how = f"LDAP search for thumbnailPhoto under {base}, filter {f.get('filter') or '(none)'}"
        if isinstance(f.get("entries"), int):  # the search's done message was seen
            how += f": {f['entries']} entr{'y' if f['entries'] == 1 else 'ies'} returned"
        return self._fire(a, named(self.resolver, actor), ip, ws, dc, base, how)

    def _fire(self, a: Activity, actor: Account | None, ip: str | None, ws: str | None,
              dc: str | None, obj: str, how: str) -> list[AlertDraft]:
        if actor is not None and (actor.is_machine or
                                  (actor.name or "").lower() in self.service_names):
            return []  # the AD FS gMSA / farm servers read the key to decrypt their certificates
        who = actor_text(actor)
        src = f" on {display(ws) if ws else ip}" if (ws or ip) else ""
        return [self.draft(
            key=f"{who.lower()}|{(ws or ip or '?').lower()}",
            activities=[a],
            description=f"{who}{src} read the AD FS DKM key (thumbnailPhoto of the key object "
                        f"in the AD FS container) from {display(dc)}.",
            entities=refs(user_ref(actor, "actor"), host_ref(ws, "source computer", ip),
                          ip_ref(ip, "source IP") if ws else None,
                          host_ref(dc, "domain controller")),
            evidence={k: v for k, v in (("object", obj), ("attribute", "thumbnailPhoto"),
                                        ("access", how), ("source_ip", ip),
                                        ("source_computer", ws),
                                        ("domain_controller", display(dc))) if v},
        )]
