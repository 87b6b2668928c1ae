"""Suspected DCShadow attack (domain controller promotion): MDI external ID 2028.

A machine that is not a domain controller registers itself as one (DCShadow preparation): it
gets the replication SPNs a DC has (``GC/<host>/<forest>`` and the DRS RPC interface
``E3514235-4B06-11D1-AB04-00C04FC2DCD2/<dsa guid>/<domain>``) and a server + nTDSDSA object is
created under ``CN=Sites,CN=Configuration`` for it, usually removed again seconds later.
Sources: 4742 / 5136, an LDAP modify on the wire or a Samba dsdbChange adding those SPNs to a
computer that is not a DC (and not being turned into one by the same change); 5137 creating an
nTDSDSA object for a non-DC server; 4662 creating then deleting server / nTDSDSA objects within
minutes (schema class GUIDs, MS-ADSC).
Known false positives: a genuine DC promotion the data does not reveal (the new DC keeps its
SPNs and objects; use --dc), low-certainty name resolution.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import (
    dc_key,
    display,
    ds_change,
    host_ref,
    named,
    rpc_source,
    rpc_target,
)
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    SlidingWindow,
    refs,
    user_ref,
)
from dcwatch.entities.resolver import short
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind

DRS_SPN = "e3514235-4b06-11d1-ab04-00c04fc2dcd2/"  # MS-DRSR 2.2.3.2 replication SPN
GC_SPN = "gc/"
CLASS_SERVER = "bf967a92-0de6-11d0-a285-00aa003049e2"  # MS-ADSC server
CLASS_NTDSDSA = "f0f8ffab-1191-11d0-a060-00aa006c33ed"  # MS-ADSC nTDSDSA
CLASS_SERVERS_CONTAINER = "f780acc0-56f0-11d1-a9c6-0000f80367c1"  # MS-ADSC serversContainer
CREATE_CHILD = 0x1  # ADS_RIGHT_DS_CREATE_CHILD
DELETE = 0x10000  # standard DELETE
SERVER_TRUST_ACCOUNT = 0x2000
DC_GROUP_RIDS = {"516", "521"}
_SPLIT = re.compile(r"[\s,;]+")


def rogue_spns(spns: str | None) -> list[str]:
    """The DC-only SPNs (GC/, DRS replication) in a 4742/5136 SPN list."""
    return [s for s in _SPLIT.split(spns or "") if s.lower().startswith((DRS_SPN, GC_SPN))]


class DcShadowPromotion(Detector):
    slug: ClassVar[str] = "dcshadow-promotion"
    external_id: ClassVar[int] = 2028
    title: ClassVar[str] = "Suspected DCShadow attack (domain controller promotion)"
    phase: ClassVar[Phase] = Phase.OTHER
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1207",)
    handles: ClassVar[frozenset[str]] = frozenset({
        K.COMPUTER_CHANGED, K.DS_MODIFY, K.DS_CREATE, K.DS_ACCESS})

    ephemeral: ClassVar[timedelta] = timedelta(minutes=10)

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._objects: BoundedDict[SlidingWindow[Activity]] = BoundedDict(10_000)  # per DC

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.actor is not None and a.actor.is_machine and self.resolver.is_dc_account(a.actor):
            return []  # a DC maintaining its own topology
        if a.kind is K.COMPUTER_CHANGED:
            return self._spns(a, a.target, rogue_spns(a.fields.get("spns")))
        f = a.fields
        if a.kind is K.DS_MODIFY:
            # 5136 value_added, an LDAP modify (add/replace) on the wire, a Samba dsdbChange
            ch = ds_change(a, self.resolver)
            if ch is None or not ch.adds("servicePrincipalName"):
                return []
            return self._spns(a, Account(f"{ch.cn}$"),
                              rogue_spns(" ".join(ch.values.get("serviceprincipalname", []))))
        if a.kind is K.DS_CREATE:
            dn = str(f.get("dn") or "")
            if str(f.get("object_class") or "").lower() != "ntdsdsa" or \
                    ",cn=sites,cn=configuration," not in dn.lower():
                return []
            parts = dn.split(",")
            server = parts[1].split("=", 1)[-1] if len(parts) > 1 else None
            if not server or self.resolver.dc_status(server)[0] is True:
                return []
            return [self._draft(a, [a], server, f"an nTDSDSA object was created for {server}")]
        return self._ds_access(a)

    def _spns(self, a: Activity, target: Account | None, spns: list[str]) -> list[AlertDraft]:
        if not spns or target is None or not target.is_machine:
            return []
        name = target.name[:-1]  # type: ignore[index]
        if short(name) == short(a.host) or self.resolver.is_dc_account(target) is True:
            return []
        f = a.fields
        new_uac = str(f.get("new_uac") or "0")
        try:
            promoted = int(new_uac, 16 if new_uac.lower().startswith("0x") else 10) & \
                SERVER_TRUST_ACCOUNT
        except ValueError:
            promoted = 0
        if promoted or str(f.get("primary_group_id") or "") in DC_GROUP_RIDS:
            return []  # the same change makes it a real DC
        recent = self._objects.get(dc_key(a.host))
        acts = (recent.items() if recent else []) + [a]
        return [self._draft(a, acts, name, "it received the domain controller SPNs "
                            + ", ".join(spns))]

    def _ds_access(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        mask = f.get("access_mask") or 0
        props = set(f.get("properties") or ())
        otype = str(f.get("object_type") or "").lower()
        created = mask & CREATE_CHILD and (
            (otype == CLASS_SERVERS_CONTAINER and CLASS_SERVER in props)
            or CLASS_NTDSDSA in props)
        deleted = mask & DELETE and otype in (CLASS_NTDSDSA, CLASS_SERVER)
        if not (created or deleted):
            return []
        w = self._objects.setdefault(dc_key(a.host), SlidingWindow(self.ephemeral))
        w.add(a.ts, a)
        items = w.items()
        made = [x for x in items if x.fields.get("access_mask", 0) & CREATE_CHILD]
        gone = [x for x in items if x.fields.get("access_mask", 0) & DELETE]
        if not (made and gone and deleted):
            return []
        secs = (a.ts - made[0].ts).total_seconds()
        return [self._draft(a, items, None,
                            f"server/nTDSDSA objects were created and deleted within {secs:.1f} s")]

    def _draft(self, a: Activity, acts: list[Activity], computer: str | None,
               fact: str) -> AlertDraft:
        wire_or_samba = a.protocol not in (None, "event")
        dc = (rpc_target(a, self.resolver) if wire_or_samba else None) or a.host
        domain = dc.split(".", 1)[1] if dc and short(dc) and "." in dc else None  # not an IP
        what = display(computer) if computer else "a computer"
        src = self.resolver.session_source(a.host, a.fields.get("logon_id"))
        if src is None and wire_or_samba:  # the client of the LDAP / DRSUAPI connection
            ip, host = rpc_source(a, self.resolver)
            src = (ip, host) if ip or host else None
        return self.draft(
            key=dc_key(dc),
            activities=acts,
            description=f"On {display(dc)}, {what}{f' from {domain}' if domain else ''} was "
                        f"registered as a domain controller ({fact}).",
            entities=refs(host_ref(computer, "rogue domain controller") if computer else None,
                          user_ref(named(self.resolver, a.actor), "actor"),
                          host_ref(src[1] if src else None, "source computer",
                                   src[0] if src else None),
                          host_ref(dc, "domain controller"),
                          EntityRef("domain", domain, "domain") if domain else None),
            evidence={k: v for k, v in (("rogue_computer", short(computer) if computer else None),
                                        ("facts", [fact]), ("domain", domain),
                                        ("domain_controller", display(dc))) if v},
            require_dc=a.host,
        )
