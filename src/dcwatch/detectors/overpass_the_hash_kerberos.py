"""Suspected overpass-the-hash attack (Kerberos): MDI external ID 2002.

An unusual Kerberos implementation on a computer: an AS-REQ whose etype list offers no AES at all
(the profile of tools that build a TGT request from an NT hash) from a computer whose own
Kerberos stack was seen offering AES. Windows and MIT clients are uniform per computer, so two
implementations on one computer means a tool. Sources: wire AS-REQs only (events do not carry
the etype list).
Modes: ``scan`` compares with what the same data showed for the computer earlier; live mode
learns the computers' normal stacks for 30 days first (threshold High).
Known false positives: applications with their own Kerberos stack (exclude the computer).
State: BoundedDict source IP -> stack flags, ~120 bytes per computer: ~1.2 MB per 10k computers.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import (
    AES,
    WEAK,
    acct_key,
    acct_text,
    etype_name,
    norm_ip,
    source,
    target_dc,
    where,
    wire,
)
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    refs,
    user_ref,
)
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity


class OverpassTheHashKerberos(Detector):
    slug: ClassVar[str] = "overpass-the-hash-kerberos"
    external_id: ClassVar[int] = 2002
    title: ClassVar[str] = "Suspected overpass-the-hash attack (Kerberos)"
    phase: ClassVar[Phase] = Phase.LATERAL_MOVEMENT
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1210", "T1550", "T1550.002", "T1550.003")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.KERBEROS_AS})
    learning_period: ClassVar[timedelta | None] = timedelta(days=30)

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._aes_stack: BoundedDict[str] = BoundedDict(100_000)  # ip -> account seen with AES

    def observe(self, a: Activity) -> list[AlertDraft]:
        if not wire(a):
            return []
        offered = [e for e in a.fields.get("etypes") or () if isinstance(e, int)]
        ip = norm_ip(a.src_ip)
        if not offered or not ip:
            return []
        if set(offered) & AES:
            self._aes_stack[ip] = acct_key(a.actor)
            return []
        if not set(offered) <= WEAK or self.learning(a.host or "kdc", a.ts):
            return []
        if ip not in self._aes_stack:
            return []  # nothing says this computer normally speaks another Kerberos
        _, host = source(a, self.resolver)
        dc = target_dc(a, self.resolver)
        src = where(ip, host)
        return [self.draft(
            key=ip,
            activities=[a],
            description=(f"{src} tried to authenticate to {dc} as {acct_text(a.actor)} with an "
                         f"unusual Kerberos protocol implementation (etypes offered: "
                         f"{', '.join(etype_name(e) for e in offered)}; this computer's own "
                         f"Kerberos offers AES), which may indicate malicious use of Kerberos."),
            entities=refs(user_ref(a.actor, "compromised account"),
                          host_ref(host, "source computer", ip),
                          host_ref(dc, "target domain controller")),
            evidence={"offered_etypes": [etype_name(e) for e in offered],
                      "pa_types": a.fields.get("pa_types"), "source_ip": ip,
                      "source_computer": host, "domain_controller": dc,
                      "usual_stack_seen_for": self._aes_stack.get(ip)},
        )]
