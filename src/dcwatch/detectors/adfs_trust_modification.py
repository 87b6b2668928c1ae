"""Suspicious modification of the trust relationship of AD FS server: MDI external ID 2420.

Whoever controls an AD FS farm's trusts can mint tokens for any relying party: adding a
claims-provider or relying-party trust, a token-signing/decryption certificate, or changing the
federated-domain settings (issuer URI, signing certificate) is how Golden SAML / domain-trust
backdoors persist (T1484.002).
Sources (**unverified** layouts, spec: logic inferred): AD FS audit event 307 ("The Federation
Service configuration was changed") and its 510 details (same instance ID); a change alerts when
its details name a trust object (relying-party/claims-provider trust, token-signing or
decrypting certificate, federation/issuer settings). In AD, a write (5136/5137/5141) under
``CN=ADFS,CN=Microsoft,CN=Program Data`` (the farm's key containers) by a user account.
The actor is the ``DOMAIN\\user`` the details name, else the event's user SID.
Known false positives: planned federation changes (list their operators in
``authorized_actors`` or exclude them) and the farm's automatic trust monitoring, which
updates relying-party trusts from their metadata as the AD FS service account (machine/gMSA
``$`` accounts stay quiet).
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._adfs import ADFS_KINDS, as_list
from dcwatch.detectors._common import actor_text, display, host_ref, named
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    refs,
    user_ref,
)
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

K = ActivityKind
ADFS_CONTAINER = "cn=adfs,cn=microsoft,cn=program data"
# Words of a 307/510 detail that name a trust object (cmdlet nouns and configuration names).
TRUST_RE = re.compile(
    r"relying\s*party|claims\s*provider|trust|token\s*-?\s*signing|token\s*-?\s*decrypt|"
    r"signingcertificate|federat|issueruri|idpsigning", re.I)
_ACCOUNT_RE = re.compile(r"(?:^|[\s:=])([\w.-]+\\[\w.$-]+)(?=$|[\s,;])")


class AdfsTrustModification(Detector):
    slug: ClassVar[str] = "adfs-trust-modification"
    external_id: ClassVar[int] = 2420
    title: ClassVar[str] = "Suspicious modification of the trust relationship of AD FS server"
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1484", "T1484.002")
    # Every AD FS audit kind: the farm's steady audit stream is the clock that judges a 307
    # once its 510 details had time to arrive.
    handles: ClassVar[frozenset[str]] = frozenset(
        {*ADFS_KINDS, K.DS_MODIFY, K.DS_CREATE, K.DS_DELETE})

    # Operators of planned federation changes (sAMAccountName, lower case): configuration.
    authorized_actors: ClassVar[frozenset[str]] = frozenset()
    # How long a 307 waits for its 510 details.
    details_wait: ClassVar[timedelta] = timedelta(minutes=1)

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._changes: BoundedDict[Activity] = BoundedDict(10_000)  # instance -> 307
        self._details: BoundedDict[list[Activity]] = BoundedDict(10_000)  # instance -> 510s

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind not in ADFS_KINDS:
            return self._directory(a)
        inst = a.fields.get("instance_id")
        out = self._expire(a)
        if a.kind is K.ADFS_CONFIG_CHANGED and inst:
            self._changes[inst] = a
        elif a.kind is K.ADFS_DETAILS and inst:
            self._details.setdefault(inst, []).append(a)
        return out

    def _expire(self, now: Activity) -> list[AlertDraft]:
        """Judge the 307s whose details had time to arrive."""
        out: list[AlertDraft] = []
        for inst, change in list(self._changes.items()):
            if now.ts - change.ts < self.details_wait:
                break
            del self._changes[inst]
            out += self._judge(change, self._details.pop(inst, []))
        return out

    def finish(self) -> list[AlertDraft]:
        out: list[AlertDraft] = []
        for inst, change in list(self._changes.items()):
            out += self._judge(change, self._details.pop(inst, []))
        self._changes.clear()
        return out

    def _judge(self, change: Activity, details: list[Activity]) -> list[AlertDraft]:
        lines = as_list(change.fields.get("details"))
        for d in details:
            lines += as_list(d.fields.get("details"))
        trust = [ln for ln in lines if TRUST_RE.search(ln)]
        if not trust:
            return []
        actor = self._actor(lines) or named(self.resolver, change.actor)
        if self._quiet(actor):
            return []
        who = actor_text(actor)
        server = display(change.host)
        what = "; ".join(trust[:3]) + (" ..." if len(trust) > 3 else "")
        return [self.draft(
            key=f"{who.lower()}|{server.lower()}",
            activities=[change, *details],
            description=f"{who} modified the trust configuration of AD FS server {server}: "
                        f"{what}.",
            entities=refs(user_ref(actor, "actor"), host_ref(change.host, "AD FS server")),
            evidence={"adfs_server": server, "changes": lines,
                      "instance_id": change.fields.get("instance_id"),
                      "source": "AD FS audit 307/510"},
        )]

    @staticmethod
    def _actor(lines: list[str]) -> Account | None:
        for ln in lines:
            m = _ACCOUNT_RE.search(ln)
            if m:
                dom, _, name = m.group(1).rpartition("\\")
                if dom.upper() not in ("NT AUTHORITY", "NT SERVICE"):
                    return Account(name, dom, None)
        return None

    def _quiet(self, actor: Account | None) -> bool:
        if actor is None:
            return False
        return actor.is_machine or (actor.name or "").lower() in self.authorized_actors

    def _directory(self, a: Activity) -> list[AlertDraft]:
        dn = str(a.fields.get("dn") or "")
        if ADFS_CONTAINER not in dn.lower():
            return []
        actor = named(self.resolver, a.actor)
        if actor is None or self._quiet(actor):
            return []
        who = actor_text(actor)
        verb = {K.DS_MODIFY: "modified", K.DS_CREATE: "created", K.DS_DELETE: "deleted"}[a.kind]
        attrs = ", ".join(a.fields.get("attributes") or [])
        what = f" ({attrs})" if attrs else ""
        return [self.draft(
            key=f"{who.lower()}|ad:{dn.lower()}",
            activities=[a],
            description=f"{who} {verb} {dn}{what} in the AD FS configuration container on "
                        f"{display(a.host)}.",
            entities=refs(user_ref(actor, "actor"), host_ref(a.host, "domain controller")),
            evidence={k: v for k, v in (("object", dn), ("attributes", attrs),
                                        ("operation", a.fields.get("operation")),
                                        ("domain_controller", display(a.host))) if v},
        )]
