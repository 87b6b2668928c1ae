"""Data exfiltration over SMB: MDI external ID 2030.

A computer that is not a DC reads DC-sensitive files from a DC over SMB: the AD database
(``ntds.dit`` or any ``.dit``), copies of the registry hives (``SAM``, ``SYSTEM``, ``SECURITY``,
``.hiv``/``.save``), volume shadow copy paths. Bytes actually read (``smb.file_transfer``, emitted
at close) make it a copy; ``min_bytes`` ignores mere opens. Event 5145 (share file access with
ReadData) counts too, merged under the same key (reader + DC).
Known false positives: backup software reading these files from DCs (exclude the computer).
State: up to 1000 drafts held while the data cannot tell whether the server is a DC.
"""

from __future__ import annotations

import re
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import DcGate, acct_text, source, target_dc, where, wire
from dcwatch.detectors.base import DetectionContext, Detector, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

DIT = re.compile(r"\.dit$", re.IGNORECASE)
HIVE_COPY = re.compile(r"(?:^|[\\/])(?:sam|system|security)\.(?:save|sav|bak|hiv|hive|reg)$|"
                       r"\.hiv$", re.IGNORECASE)
HIVE_LIVE = re.compile(r"(?:^|[\\/])(?:windows[\\/])?(?:system32[\\/]config|repair)[\\/]"
                       r"(?:sam|system|security)$", re.IGNORECASE)
SHADOW = re.compile(r"harddiskvolumeshadowcopy\d*[\\/].*(?:\.dit|[\\/]config[\\/]"
                    r"(?:sam|system|security))$", re.IGNORECASE)
READ_DATA = 0x1  # FILE_READ_DATA (5145 AccessMask)


def sensitive_file(path: str) -> bool:
    """A DC-sensitive file: an AD database (``*.dit``), a hive (live path or saved copy), or
    either of them read through a volume shadow copy."""
    p = path.replace("/", "\\").strip()
    return bool(DIT.search(p) or HIVE_COPY.search(p) or HIVE_LIVE.search(p) or SHADOW.search(p))


class SmbDataExfiltration(Detector):
    slug: ClassVar[str] = "smb-data-exfiltration"
    external_id: ClassVar[int] = 2030
    title: ClassVar[str] = "Data exfiltration over SMB"
    phase: ClassVar[Phase] = Phase.EXFILTRATION
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1048", "T1570", "T1048.003")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.SMB_FILE_TRANSFER,
                                                   ActivityKind.SHARE_FILE_ACCESS})

    min_bytes: ClassVar[int] = 1

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.gate = DcGate(self.resolver)

    def observe(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        if f.get("pipe"):
            return []
        path = str(f.get("path") or f.get("relative_target") or f.get("file") or "")
        if not path or not sensitive_file(path):
            return []
        if wire(a):
            size = int(f.get("bytes_read") or 0)
            if size < self.min_bytes:
                return []
        else:
            mask = f.get("access_mask")
            if isinstance(mask, int) and not mask & READ_DATA:
                return []
            size = None
        ip, host = source(a, self.resolver)
        if ip and self.resolver.dc_status(ip)[0]:
            return []
        dc = target_dc(a, self.resolver)
        share = f.get("share_name") or f.get("share")
        who = acct_text(a.actor, "an unknown account")  # mid-sentence
        draft = self.draft(
            key=f"{(ip or host or '?').lower()}|{(dc or '').lower()}",
            activities=[a],
            description=(f"Suspicious files were copied by {who} from {dc} to "
                         f"{where(ip, host)}: {path}" + (f" ({size} bytes read)." if size
                                                         else ".")),
            entities=refs(user_ref(a.actor, "attacker"),
                          host_ref(host, "destination computer", ip),
                          host_ref(dc, "source domain controller"),
                          EntityRef("file", path, "copied file")),
            evidence={"files": [{"path": path, "share": share, "bytes_read": size}],
                      "destination_ip": ip, "destination_computer": host},
            require_dc=a.dst_ip or a.host,
        )
        return self.gate.hold(a.dst_ip or a.host or "", draft) if wire(a) else [draft]

    def finish(self) -> list[AlertDraft]:
        return self.gate.release()
