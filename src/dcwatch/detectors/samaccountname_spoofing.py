"""Suspicious modification of a sAMNameAccount attribute (CVE-2021-42278/42287): MDI ID 2419.

noPac: a computer account (often just created through the machine account quota) is renamed to
a domain controller's name without the trailing ``$``; a TGT is requested for that name, the
account is renamed back, and a service ticket asked for the now-missing name is issued by the
KDC as the DC itself.
Sources: 4781 (account renamed) / 4742 (SAM Account Name changed) / 5136 on sAMAccountName
whose new value equals a DC's name without ``$``; 4741 for the creation; 4768/4769 and wire
AS/TGS requests for the spoofed name as follow-up evidence (same alert).
Known false positive: none known (renaming an account to a DC's name is never legitimate).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from dcwatch.detectors._common import display, host_ref
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, ip_ref, refs, user_ref
from dcwatch.entities.resolver import short
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind


class SamAccountNameSpoofing(Detector):
    slug: ClassVar[str] = "samaccountname-spoofing"
    external_id: ClassVar[int] = 2419
    title: ClassVar[str] = ("Suspicious modification of a sAMNameAccount attribute "
                            "(CVE-2021-42278 and CVE-2021-42287 exploitation)")
    phase: ClassVar[Phase] = Phase.CREDENTIAL_ACCESS
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1134", "T1068", "T1558", "T1134.001")
    handles: ClassVar[frozenset[str]] = frozenset({
        K.ACCOUNT_RENAMED, K.COMPUTER_CHANGED, K.COMPUTER_CREATED, K.DS_MODIFY,
        K.KERBEROS_AS, K.KERBEROS_TGS})

    follow_up: ClassVar[timedelta] = timedelta(hours=1)

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._created: BoundedDict[Activity] = BoundedDict(50_000)  # new computer name -> 4741
        self._spoofed: BoundedDict[tuple[str, Activity]] = BoundedDict(10_000)  # name -> key

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is K.COMPUTER_CREATED:
            name = (a.fields.get("sam_account_name") or (a.target.name if a.target else "") or "")
            if name:
                self._created[name.lower()] = a
            return []
        if a.kind in (K.KERBEROS_AS, K.KERBEROS_TGS):
            return self._ticket(a)
        old, new = self._rename(a)
        if not new or new.endswith("$") or not self._is_dc_name(new, a.host):
            return []
        if old and old.lower().rstrip("$") == new.lower():
            return []  # the DC's own account
        key = f"{display(a.host).lower()}|{new.lower()}"
        self._spoofed[new.lower()] = (key, a)
        created = self._created.get((old or "").lower())
        acts = ([created] if created else []) + [a]
        return [self._draft(key, acts, a, old, new, created, None)]

    def _rename(self, a: Activity) -> tuple[str | None, str | None]:
        f = a.fields
        if a.kind is K.ACCOUNT_RENAMED:
            return f.get("old_name"), f.get("new_name")
        if a.kind is K.COMPUTER_CHANGED:
            return None, f.get("sam_account_name")
        if a.kind is K.DS_MODIFY and f.get("operation") == "value_added" and \
                [str(x).lower() for x in f.get("attributes") or []] == ["samaccountname"]:
            return None, (f.get("values") or {}).get(f["attributes"][0])
        return None, None

    def _is_dc_name(self, name: str, host: str | None) -> bool:
        n = short(name)
        return bool(n) and (n == short(host) or self.resolver.dc_status(n)[0] is True)

    def _ticket(self, a: Activity) -> list[AlertDraft]:
        name = (a.actor.name or "") if a.actor else ""
        name = name.split("@", 1)[0].lower()
        hit = self._spoofed.get(name)
        if hit is None or a.ts - hit[1].ts > self.follow_up:
            return []
        key, first = hit
        old, new = self._rename(first)
        return [self._draft(key, [a], first, old, new, None, a)]

    def _draft(self, key: str, acts: list[Activity], rename: Activity, old: str | None,
               new: str | None, created: Activity | None, ticket: Activity | None
               ) -> AlertDraft:
        who = str(rename.actor) if rename.actor else "An unknown user"
        src = self.resolver.session_source(rename.host, rename.fields.get("logon_id"))
        ip, ws = src if src else (None, None)
        target = rename.target or Account(old)
        dc_name = (new or "?").upper()
        desc = (f"{who} renamed the computer account {old or target} to {new}, the name of "
                f"domain controller {dc_name} without its trailing $, on "
                f"{display(rename.host)} (CVE-2021-42278/42287).")
        evidence: dict[str, Any] = {
            "old_name": old, "new_name": new, "domain_controller": display(rename.host),
            "created_by": str(created.actor) if created and created.actor else None,
            "source_ip": ip, "source_computer": ws}
        if ticket is not None:
            evidence["tickets_for_spoofed_name"] = [{
                "kind": str(ticket.kind), "service": ticket.fields.get("service"),
                "source_ip": ticket.src_ip, "outcome": ticket.outcome,
                "time": ticket.ts.isoformat()}]
        return self.draft(
            key=key,
            activities=acts,
            description=desc,
            entities=refs(user_ref(rename.actor, "attacker"),
                          EntityRef("computer", old.rstrip("$").upper(), "renamed account",
                                    sid=target.sid if target else None) if old else None,
                          host_ref(ws, "source computer", ip), ip_ref(ip, "source IP"),
                          host_ref(rename.host, "spoofed domain controller")),
            evidence={k: v for k, v in evidence.items() if v},
            require_dc=rename.host,
        )
