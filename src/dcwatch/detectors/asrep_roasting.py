"""Suspected AS-REP Roasting attack: MDI external ID 2412.

An AS-REQ without any pre-authentication (no PA-ENC-TIMESTAMP, PKINIT, FAST or encrypted
challenge) answered by an AS-REP: only accounts with DONT_REQ_PREAUTH get one, and the AS-REP's
enc-part (RC4 above all, AES too given time) can be cracked offline. Fires per source on
``min_accounts`` (1) accounts within ``window``; later ones update the alert. Evidence says
whether the reply was RC4/DES and whether the client offered only weak etypes (the roasting
tools' profile). Event 4768 with Pre-Authentication Type 0 and Samba's KDC audit
("Unknown Pre-authentication" success) count the same way (same key: the source).
Known false positives: legacy applications on accounts without pre-authentication (exclude the
application server).
State: per source a SlidingWindow (10 min) in a BoundedDict of 10k sources: ~1 MB.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import (
    AES,
    PREAUTH_PA_TYPES,
    WEAK,
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
    SlidingWindow,
    refs,
)
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity


class AsrepRoasting(Detector):
    slug: ClassVar[str] = "asrep-roasting"
    external_id: ClassVar[int] = 2412
    title: ClassVar[str] = "Suspected AS-REP Roasting attack"
    phase: ClassVar[Phase] = Phase.CREDENTIAL_ACCESS
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1558", "T1558.004")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.KERBEROS_AS,
                                                   ActivityKind.LOGON})

    window: ClassVar[timedelta] = timedelta(minutes=10)
    min_accounts: ClassVar[int] = 1

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._recent: BoundedDict[SlidingWindow[Activity]] = BoundedDict(10_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.outcome != "success" or a.actor is None or a.actor.is_machine:
            return []
        f = a.fields
        if a.kind is ActivityKind.LOGON:
            if a.protocol != "samba" or f.get("service") != "Kerberos KDC" or not str(
                    f.get("auth_description") or "").lower().startswith("unknown pre-auth"):
                return []
            weak = False
        elif a.protocol == "samba":
            return []  # its logon.success twin carries the pre-authentication type
        elif wire(a):
            if set(f.get("pa_types") or ()) & PREAUTH_PA_TYPES:
                return []
            offered = set(f.get("etypes") or ())
            weak = f.get("reply_etype") in WEAK or (bool(offered) and not offered & AES)
        else:
            if f.get("preauth_type") != 0:
                return []
            weak = f.get("ticket_etype") in WEAK
        ip = norm_ip(a.src_ip) or (a.src_host or "").lower()
        if not ip:
            return []
        w = self._recent.get(ip)
        if w is None:
            w = SlidingWindow[Activity](self.window, 1000)
            self._recent[ip] = w
        w.add(a.ts, a)
        accounts = sorted({str(x.actor.name) for x in w if x.actor and x.actor.name})
        if len(accounts) < self.min_accounts:
            return []
        src_ip, host = source(a, self.resolver)
        dc = target_dc(a, self.resolver)
        return [self.draft(
            key=ip.lower(),
            activities=w.items(),
            description=(f"{where(src_ip, host)} requested Kerberos tickets without "
                         f"pre-authentication from {dc} for {len(accounts)} account(s) "
                         f"({', '.join(accounts)}); the replies can be cracked offline."),
            entities=refs(host_ref(host, "source computer", src_ip),
                          host_ref(dc, "target domain controller"),
                          *(EntityRef("user", n, "exposed account") for n in accounts)),
            evidence={"accounts": accounts, "reply_etype": etype_name(f.get("reply_etype")),
                      "weak_reply_or_rc4_only_request": weak,
                      "offered_etypes": [etype_name(e) for e in f.get("etypes") or ()],
                      "victim": acct_text(a.actor), "source_ip": src_ip,
                      "source_computer": host},
        )]
