"""Suspected DCSync attack (replication of directory services): MDI external ID 2006.

An account that is not a domain controller asks a DC to replicate directory data (password
hashes included). Sources: DRSUAPI IDL_DRSGetNCChanges (opnum 3) on the wire from a computer
that is not a DC; event 4662 on the domain head with the DS-Replication-Get-Changes(-All)
control access rights (AccessMask 0x100) by an account that is not a DC machine account.
Known false positives: Entra ID Connect (password hash sync) and replication appliances
(exclude the account or computer); DCs the data does not reveal as DCs (use --dc).
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors.base import Detector, computer_ref, host_name, ip_ref, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

# MS-ADTS 5.1.3.2.1 control access rights
GET_CHANGES = "1131f6aa-9c07-11d1-f79f-00c04fc2dcd2"
GET_CHANGES_ALL = "1131f6ad-9c07-11d1-f79f-00c04fc2dcd2"
GET_CHANGES_FILTERED = "89e95b76-444d-4c62-991a-0facbeda640c"
REPLICATION_RIGHTS = {
    GET_CHANGES: "DS-Replication-Get-Changes",
    GET_CHANGES_ALL: "DS-Replication-Get-Changes-All",
    GET_CHANGES_FILTERED: "DS-Replication-Get-Changes-In-Filtered-Set",
}
CONTROL_ACCESS = 0x100  # ADS_RIGHT_DS_CONTROL_ACCESS
DRS_GET_NC_CHANGES = 3  # MS-DRSR 4.1.10 IDL_DRSGetNCChanges


class DcSync(Detector):
    slug: ClassVar[str] = "dcsync"
    external_id: ClassVar[int] = 2006
    title: ClassVar[str] = "Suspected DCSync attack (replication of directory services)"
    phase: ClassVar[Phase] = Phase.CREDENTIAL_ACCESS
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1003", "T1003.006")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.DS_ACCESS,
                                                   ActivityKind.RPC_CALL})

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is ActivityKind.DS_ACCESS:
            return self._event(a)
        if a.fields.get("interface") == "drsuapi" and a.fields.get("opnum") == DRS_GET_NC_CHANGES \
                and not a.fields.get("etw"):
            return self._wire(a)
        return []

    def _not_dc_actor(self, a: Activity) -> bool:
        if a.actor is None:
            return True
        if a.actor.is_machine:
            # A DC's machine account replicating is normal; an unknown machine account is
            # most likely a DC the data does not reveal, so only known non-DCs count.
            return self.resolver.is_dc_account(a.actor) is False
        return True

    def _event(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        rights = [REPLICATION_RIGHTS[g] for g in f.get("properties", ()) if g in
                  REPLICATION_RIGHTS]
        if not rights or not (f.get("access_mask") or 0) & CONTROL_ACCESS:
            return []
        if (f.get("object_server") or "DS").upper() != "DS" or not self._not_dc_actor(a):
            return []
        src = self.resolver.session_source(a.host, f.get("logon_id"))
        src_ip, src_host = src if src else (None, None)
        if src_ip and self.resolver.dc_status(src_ip)[0]:
            return []
        return [self._draft(a, src_ip, src_host, a.host, rights, a.outcome != "failure")]

    def _wire(self, a: Activity) -> list[AlertDraft]:
        if not self._not_dc_actor(a):
            return []
        status, _ = self.resolver.dc_status(a.src_ip)
        if status:
            return []
        m = self.resolver.computer_for_ip(a.src_ip)
        dm = self.resolver.computer_for_ip(a.dst_ip)
        dc = a.dst_host or (dm.host if dm else a.dst_ip)
        return [self._draft(a, a.src_ip, m.host if m else a.src_host, dc,
                            ["IDL_DRSGetNCChanges"], a.outcome != "failure")]

    def _draft(self, a: Activity, src_ip: str | None, src_host: str | None, dc: str | None,
               rights: list[str], success: bool) -> AlertDraft:
        who = str(a.actor) if a.actor else "An unknown account"
        where = f" on {host_name(src_host)}" if src_host else (f" from {src_ip}" if src_ip
                                                               else "")
        verb = "successfully ran" if success else "attempted"
        key = f"{(str(a.actor) if a.actor else src_ip or '?').lower()}|{(src_host or src_ip or '')}"
        return self.draft(
            key=key.lower(),
            activities=[a],
            description=f"{who}{where} {verb} malicious directory replication requests "
                        f"against {host_name(dc)}.",
            entities=refs(user_ref(a.actor, "attacker"),
                          computer_ref(src_host, "source computer", src_ip),
                          ip_ref(src_ip, "source IP") if src_host else None,
                          computer_ref(dc, "target domain controller")),
            evidence={"replication_requests": rights, "outcome":
                      "success" if success else "failure",
                      "source_computer": src_host, "source_ip": src_ip,
                      "domain_controller": host_name(dc)},
        )
