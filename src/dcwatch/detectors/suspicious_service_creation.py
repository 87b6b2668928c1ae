"""Suspicious service creation: MDI external ID 2026.

A service whose binary looks like an attacker's (a command interpreter or script host, a binary
on a network or admin share, in a user-writable folder, or with no absolute path) is installed
on a domain controller. Sources: System 7045 and Security 4697 on the DC.
Known false positives: deployment tools that wrap installers in cmd.exe; exclude the computer
or account. Services on workstations are out of scope (MDI watches DCs).
"""

from __future__ import annotations

import re
from typing import ClassVar

from dcwatch.detectors.base import Detector, computer_ref, host_name, refs, user_ref
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

# (pattern on the image path, reason shown as evidence)
SUSPICIOUS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"(?i)(^|[\\/\s\"'&|])(cmd|command)(\.exe|\.com)?(\s|$|\"|')"),
     "runs a command interpreter"),
    (re.compile(r"(?i)%comspec%"), "runs a command interpreter (%COMSPEC%)"),
    (re.compile(r"(?i)(^|[\\/\s\"'])(powershell|pwsh)(\.exe)?(\s|$|\"|')"), "runs PowerShell"),
    (re.compile(r"(?i)(^|[\\/\s\"'])(rundll32|regsvr32|mshta|wscript|cscript|certutil|bitsadmin"
                r"|msbuild|installutil|regasm|regsvcs)(\.exe)?(\s|$|\"|')"),
     "runs a script host or proxy-execution binary"),
    (re.compile(r"^\s*\"?\\\\"), "runs a binary from a network path"),
    (re.compile(r"(?i)\\(admin|c|ipc)\$"), "runs a binary through an administrative share"),
    (re.compile(r"(?i)\\(users\\public|users\\[^\\]+\\(appdata|desktop|downloads|documents)"
                r"|windows\\temp|temp|tmp|perflogs|\$recycle\.bin)\\"),
     "runs a binary from a user-writable folder"),
    (re.compile(r"(?i)\s-(e|en|enc|encodedcommand|nop|noprofile|w\s+hidden|windowstyle)\b"),
     "passes hidden or encoded command options"),
)
_ABSOLUTE = re.compile(r"(?i)^\s*\"?([a-z]:\\|%[a-z]+%|\\systemroot\\|\\\?\?\\|system32\\|"
                       r"\\\\)")


def suspicious_reasons(image_path: str | None, service_type: str | None = None) -> list[str]:
    """Why a service image path looks malicious (empty list: it does not)."""
    if not image_path:
        return []
    reasons = [why for rx, why in SUSPICIOUS if rx.search(image_path)]
    driver = "driver" in (service_type or "").lower() or service_type in ("0x1", "0x2", "1", "2")
    if not reasons and not driver and not _ABSOLUTE.search(image_path):
        reasons.append("binary given without an absolute path")
    return reasons


class SuspiciousServiceCreation(Detector):
    slug: ClassVar[str] = "suspicious-service-creation"
    external_id: ClassVar[int] = 2026
    title: ClassVar[str] = "Suspicious service creation"
    phase: ClassVar[Phase] = Phase.OTHER
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1021", "T1059", "T1569", "T1543", "T1569.002",
                                        "T1543.003")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.SERVICE_INSTALLED})

    def observe(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        reasons = suspicious_reasons(f.get("image_path"), f.get("service_type"))
        if not reasons:
            return []
        actor = a.actor
        if actor and not actor.name and actor.sid:
            name = self.resolver.account_name(actor.sid)
            actor = Account(name, None, actor.sid) if name else actor
        who = str(actor) if actor else "An unknown account"
        service = f.get("service_name") or "?"
        dc = host_name(a.host)
        src = self.resolver.session_source(a.host, f.get("logon_id"))
        return [self.draft(
            key=(a.host or "?").lower(),
            activities=[a],
            description=f"{who} installed service {service} on {dc}, apparently to run "
                        f"malicious commands.",
            entities=refs(user_ref(actor, "attacker"),
                          computer_ref(src[1] if src else None, "source computer",
                                       src[0] if src else None),
                          computer_ref(a.host, "domain controller"),
                          EntityRef("service", service, "created service")),
            evidence={"services": [{"name": service, "image_path": f.get("image_path"),
                                    "start_type": f.get("start_type"),
                                    "service_account": f.get("service_account"),
                                    "reasons": reasons}]},
            require_dc=a.host,
        )]
