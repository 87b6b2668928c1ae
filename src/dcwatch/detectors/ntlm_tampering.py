"""Suspected NTLM authentication tampering: MDI external ID 2039.

CVE-2019-1040 "drop the MIC": in an NTLMv2 AUTHENTICATE_MESSAGE the client's own AV pairs
(protected by the NTLMv2 proof) say a MIC is present (MsvAvFlags 0x2) but the message has no
MIC field (it was stripped with the Version, and the signing flags cleared). Needs the decoder's
``av_flags`` and ``mic_field`` on ``ntlm.auth`` (the combined ``mic_present`` cannot tell a
stripped MIC from an absent one). Grouped per source: accounts and target servers.
Known false positives: none known for the signature itself.
State: none (the engine's open alert per source).
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import acct_text, norm_ip, source, target_dc, where
from dcwatch.detectors.base import Detector, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

AV_FLAG_MIC_PRESENT = 0x2  # MS-NLMP 2.2.2.1 MsvAvFlags


class NtlmTampering(Detector):
    slug: ClassVar[str] = "ntlm-tampering"
    external_id: ClassVar[int] = 2039
    title: ClassVar[str] = "Suspected NTLM authentication tampering"
    phase: ClassVar[Phase] = Phase.LATERAL_MOVEMENT
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1068", "T1210")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.NTLM_AUTH})

    def observe(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        flags = f.get("av_flags")
        if f.get("ntlm_version") != "v2" or not isinstance(flags, int) or \
                "mic_field" not in f:
            return []
        if not flags & AV_FLAG_MIC_PRESENT or f["mic_field"]:
            return []
        ip, host = source(a, self.resolver)
        dc = target_dc(a, self.resolver)
        return [self.draft(
            key=(norm_ip(ip) or host or "?").lower(),
            activities=[a],
            description=(f"{acct_text(a.actor)} on {where(ip, host)} made a suspicious NTLM "
                         f"authentication attempt to {dc}: the client's AV pairs announce a MIC "
                         f"that the message no longer carries (MIC removed in transit)."),
            entities=refs(user_ref(a.actor, "victim"),
                          host_ref(host, "source computer", ip),
                          host_ref(dc, "target server")),
            evidence={"av_flags": flags, "mic_field": False, "flags": f.get("flags"),
                      "outcome": a.outcome, "via": f.get("via"), "source_ip": ip},
        )]
