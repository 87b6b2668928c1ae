"""Malicious request of Data Protection API master key: MDI external ID 2020.

A client retrieves the domain DPAPI backup key *secrets* from a DC: the LSA private data
``G$BCKUPKEY_PREFERRED`` / ``G$BCKUPKEY_P`` / ``G$BCKUPKEY_<guid>`` (MS-BKRP 3.1.4.1.1) read
with LsarRetrievePrivateData (MS-LSAD opnum 43) after LsarOpenPolicy2, as mimikatz
``lsadump::backupkeys`` and impacket ``dpapi.py backupkeys`` do. With that key every user's
DPAPI secrets in the domain can be decrypted, and it cannot be rotated.
Sources: ``rpc.call`` lsarpc on the wire: LsarRetrievePrivateData (the key name when the stub
is readable; when sealed, the call itself: ordinary clients never retrieve LSA private data
from a DC) and LsarOpenSecret naming a G$BCKUPKEY secret; RPC ETW event 6 on the DC
(LSARPC opnum 43 with the client's network address).
Not an alert (spec): MS-BKRP BackuprKey with BACKUPKEY_RETRIEVE_BACKUP_KEY_GUID, which every
domain client uses to fetch the *public* backup key, nor the other BackupKey actions.
Counts successful and failed attempts per source computer and user.
Known false positive: organization-approved AD security scanners (exclude the computer).
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._common import (
    display,
    host_ref,
    is_remote_ip,
    rpc_args,
    rpc_op,
    rpc_source,
    rpc_target,
    source_key,
)
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, ip_ref, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind
# MS-LSAD 3.1.4: opnums for producers that give no operation name
LSA_OPS = {28: "LsarOpenSecret", 43: "LsarRetrievePrivateData"}
BACKUP_KEY_PREFIX = "G$BCKUPKEY"  # MS-BKRP 3.1.4.1.1 secret names
_NAME_ARGS = ("key_name", "secret_name", "name", "handle_of")


class DpapiBackupKeyRequest(Detector):
    slug: ClassVar[str] = "dpapi-backup-key-request"
    external_id: ClassVar[int] = 2020
    title: ClassVar[str] = "Malicious request of Data Protection API master key"
    phase: ClassVar[Phase] = Phase.CREDENTIAL_ACCESS
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1555",)
    handles: ClassVar[frozenset[str]] = frozenset({K.RPC_CALL})

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._counts: BoundedDict[dict[str, int]] = BoundedDict(10_000)
        self._keys: BoundedDict[dict[str, None]] = BoundedDict(10_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        if str(f.get("interface") or "").lower() != "lsarpc":
            return []
        op = rpc_op(a, LSA_OPS)
        args = rpc_args(a)
        key_name = next((str(args[k]) for k in _NAME_ARGS if args.get(k)), None)
        backup = bool(key_name) and BACKUP_KEY_PREFIX in key_name.upper()  # type: ignore[union-attr]
        if op == "retrieveprivatedata":
            if key_name and not backup:
                return []  # another LSA secret: not this alert
        elif op == "opensecret":
            if not backup:
                return []
        else:
            return []
        if f.get("etw"):
            ip = str(f.get("network_address") or "") or None
            if not is_remote_ip(ip):
                return []  # the DC's own LSA
            ws, dc, require = None, a.host, a.host
        else:
            ip, ws = rpc_source(a, self.resolver)
            dc, require = rpc_target(a, self.resolver), a.dst_ip or a.dst_host
        if self.resolver.dc_status(ip or ws)[0]:
            return []  # DC to DC
        who = str(a.actor) if a.actor else "an unknown user"
        key = f"{source_key(self.resolver, ip, ws)}|{who.lower()}"
        counts = self._counts.setdefault(key, {})
        outcome = a.outcome or "unknown"
        counts[outcome] = counts.get(outcome, 0) + 1
        keys = self._keys.setdefault(key, {})
        if key_name:
            keys[key_name] = None
        n = sum(counts.values())
        res = ", ".join(f"{v} {k}" for k, v in sorted(counts.items()))
        src = display(ws) if ws else (ip or "an unknown computer")
        return [self.draft(
            key=key,
            activities=[a],
            description=f"From {src}, {who} tried {n} time(s) to fetch the DPAPI domain "
                        f"backup key from {display(dc)} ({res})"
                        + (f": {', '.join(keys)}" if keys else
                           " (LsarRetrievePrivateData; key name not visible: sealed stub)")
                        + ".",
            entities=refs(user_ref(a.actor, "attacker"), host_ref(ws, "source computer", ip),
                          ip_ref(ip, "source IP") if ws else None,
                          host_ref(dc, "domain controller"),
                          *[EntityRef("secret", k, "secret requested") for k in keys]),
            evidence={k: v for k, v in (
                ("attempts", dict(counts)), ("secrets", list(keys)),
                ("operation", f.get("operation") or LSA_OPS.get(f.get("opnum") or -1)),
                ("sealed", f.get("sealed")), ("source_ip", ip),
                ("source_computer", display(ws) if ws else None),
                ("domain_controller", display(dc))) if v},
            require_dc=require, assume_dc=not bool(a.dst_ip),
        )]
