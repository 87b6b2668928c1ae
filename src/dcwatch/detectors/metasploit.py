"""Suspected use of Metasploit hacking framework: MDI external ID 2034.

"Unusual protocol implementation (potential use of Metasploit hacking tools)". A client's SMB1
SESSION_SETUP_ANDX claims a Windows version in NativeOS/NativeLanMan (MS-CIFS 2.2.4.53.1) that
its own NTLMSSP NEGOTIATE (MS-NLMP 2.2.1.1) contradicts, which no Windows build does because
both come from the same OS:
* the NEGOTIATE's Version (MS-NLMP 2.2.2.10) names another major.minor than NativeLanMan
  (e.g. "Windows 2000 5.0" with Version 10.0),
* the claimed version is Vista (6.0) or later and the NEGOTIATE has no NTLMSSP_NEGOTIATE_VERSION
  (Windows sets it since XP SP2/Server 2003),
* the claimed version is Windows 2000 (5.0) and NTLMSSP_NEGOTIATE_VERSION is set (MS-NLMP:
  Windows NT/2000 do not support it).
Supporting (never sufficient): a client claiming Vista or later that offered no "SMB 2.x"
dialect in its SMB1 NEGOTIATE (Windows Vista+ always offer SMB 2.002 unless SMB2 is disabled).
Metasploit's SMB stacks hard-code such strings: Rex "Windows 2000 2195"/"Windows 2000 5.0",
ruby_smb "Windows 7 Ultimate N 7601 Service Pack 1"/"Windows 7 Ultimate N 6.1" with its own NTLM
NEGOTIATE; impacket and Samba send "Unix"/"Samba" and claim no Windows version (never matched).
Signature set: **unverified** against MDI (spec 2034) and against live Metasploit traffic; it is
deliberately small and conservative (only self-contradictory Windows claims). Checked on
synthetic captures (tests/data/protocols/smb1-ms17-010.pcap) and quiet on every recording.
Sources: SMB1 ``smb.session_setup`` activities (fields native_os, native_lanman,
ntlm_negotiate_flags, ntlm_negotiate_version, dialects_offered).
Known false positives: applications with their own NTLM/SMB stack that copy Windows strings
(exclude the computer).
State: none.
"""

from __future__ import annotations

import re
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import norm_ip, source, target_dc, where
from dcwatch.detectors.base import Detector, refs
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

NEGOTIATE_VERSION = 0x02000000  # MS-NLMP 2.2.2.5 flag T
_LANMAN_VERSION = re.compile(r"^Windows\b.*?\b(\d{1,2})\.(\d)$")  # "Windows 7 Professional 6.1"
_OS_BUILD = re.compile(r"\b(\d{4,5})\b")  # "Windows 7 Professional 7601 ...": the last one
_OS_VERSION = re.compile(r"^Windows (\d{1,2})\.(\d)$")  # XP: NativeOS "Windows 5.1"


def claimed_version(native_os: str, native_lanman: str) -> tuple[int, int, int | None] | None:
    """(major, minor, build) a client's NativeOS/NativeLanMan claim, or None (not Windows)."""
    m = _LANMAN_VERSION.match(native_lanman.strip()) or _OS_VERSION.match(native_os.strip())
    if not m:
        return None
    b = _OS_BUILD.findall(native_os) if native_os.startswith("Windows") else []
    build = int(b[-1]) if b else None  # "Windows 2000 2195": 2195; may be a product year
    return int(m.group(1)), int(m.group(2)), build


class Metasploit(Detector):
    slug: ClassVar[str] = "metasploit"
    external_id: ClassVar[int] = 2034
    title: ClassVar[str] = "Suspected use of Metasploit hacking framework"
    phase: ClassVar[Phase] = Phase.LATERAL_MOVEMENT
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1210",)
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.SMB_SESSION})

    def contradictions(self, a: Activity) -> tuple[list[str], list[str]]:
        """(NTLM contradictions, supporting oddities) of one SMB1 session setup."""
        f = a.fields
        claim = claimed_version(str(f.get("native_os") or ""), str(f.get("native_lanman") or ""))
        flags = f.get("ntlm_negotiate_flags")
        if claim is None or flags is None:
            return [], []
        major, minor, build = claim
        said = f"{major}.{minor}" + (f" build {build}" if build else "")
        ntlm: list[str] = []
        version = f.get("ntlm_negotiate_version")
        if version:
            vmaj, vmin, vbuild = version
            # major.minor only: a build read from NativeOS may be a product year (2019)
            if (vmaj, vmin) != (major, minor):
                ntlm.append(f"NTLM Version {vmaj}.{vmin} build {vbuild} while NativeOS/"
                            f"NativeLanMan claim {said}")
        if (major, minor) >= (6, 0) and not flags & NEGOTIATE_VERSION:
            ntlm.append(f"NativeLanMan claims Windows {said} but the NTLM NEGOTIATE has no "
                        "Version (Windows Vista and later always send one)")
        if (major, minor) == (5, 0) and flags & NEGOTIATE_VERSION:
            ntlm.append("NativeLanMan claims Windows 2000, which has no NTLM Version, but "
                        "NEGOTIATE_VERSION is set")
        support = []
        offered = f.get("dialects_offered")
        if (major, minor) >= (6, 0) and offered is not None and not any(
                str(d).startswith("SMB 2") for d in offered):
            support.append(f"a Windows {major}.{minor} client offered no SMB 2 dialect")
        return ntlm, support

    def observe(self, a: Activity) -> list[AlertDraft]:
        if not a.fields.get("smb1"):
            return []
        ntlm, support = self.contradictions(a)
        if not ntlm:
            return []
        ip = norm_ip(a.src_ip)
        _, host = source(a, self.resolver)
        dc = target_dc(a, self.resolver)
        outcome = "success" if a.status == 0 else "failure"
        who = f" as {a.actor}" if a.actor and a.actor.name else ""
        return [self.draft(
            key=ip or host or "?",
            activities=[a],
            description=(f"{where(ip, host)} tried to authenticate{who} to {dc} with an unusual "
                         f"protocol implementation, as attack tools such as Metasploit do "
                         f"({'; '.join(ntlm + support)})."),
            entities=refs(host_ref(host, "source computer", ip),
                          host_ref(dc, "target domain controller")),
            evidence={"source_ip": ip, "source_computer": host,
                      "native_os": a.fields.get("native_os"),
                      "native_lanman": a.fields.get("native_lanman"),
                      "ntlm_negotiate_flags": a.fields.get("ntlm_negotiate_flags"),
                      "ntlm_negotiate_version": a.fields.get("ntlm_negotiate_version"),
                      "contradictions": ntlm, "supporting": support, "outcome": outcome,
                      "account": str(a.actor) if a.actor else None},
            require_dc=a.dst_ip or a.host,
        )]
