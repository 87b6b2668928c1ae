"""Suspected skeleton key attack (encryption downgrade): MDI external ID 2010.

Skeleton Key malware patches LSASS on a DC and forces RC4. On the wire: the DC answers an
AS-REQ whose pre-authentication was encrypted with AES (and whose client offered AES) with an
AS-REP enc-part in RC4/DES - downgraded by the DC, not by the client. ``min_accounts`` distinct
accounts within ``window`` (default 1 when the DC previously answered the same account with
AES, else 2) raise one alert per DC. When the decoder reports the ETYPE-INFO2 etypes of
KRB-ERROR 25 (``etype_info2``), an RC4-only list for an account the DC earlier advertised with
AES counts the same way.
Known false positives: an account's AES keys really removed (password set by an old tool).
State: per (DC, account) learned AES flag: BoundedDict, ~120 B each: ~1.2 MB per 10k accounts.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import AES, WEAK, acct_key, etype_name, target_dc, wire
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    SlidingWindow,
    refs,
)
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity


class SkeletonKey(Detector):
    slug: ClassVar[str] = "skeleton-key"
    external_id: ClassVar[int] = 2010
    title: ClassVar[str] = "Suspected skeleton key attack (encryption downgrade)"
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1210", "T1556", "T1556.001")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.KERBEROS_AS})

    window: ClassVar[timedelta] = timedelta(hours=1)
    min_accounts: ClassVar[int] = 2

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._aes: BoundedDict[bool] = BoundedDict(200_000)  # dc|account answered with AES
        self._down: BoundedDict[SlidingWindow[Activity]] = BoundedDict(1_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        if not wire(a) or a.actor is None or not a.actor.name:
            return []
        f = a.fields
        dc = a.dst_ip or a.host or "?"
        key = f"{dc}|{acct_key(a.actor)}"
        offered = set(f.get("etypes") or ())
        info2 = f.get("etype_info2")
        downgraded = False
        if a.outcome == "success" and f.get("preauth_etype") in AES and offered & AES:
            if f.get("reply_etype") in AES:
                self._aes[key] = True
            elif f.get("reply_etype") in WEAK:
                downgraded = True
        elif info2 and offered & AES:
            if set(info2) & AES:
                self._aes[key] = True
            elif set(info2) <= WEAK:
                downgraded = bool(self._aes.get(key))
        if not downgraded:
            return []
        w = self._down.get(dc)
        if w is None:
            w = SlidingWindow[Activity](self.window, 1000)
            self._down[dc] = w
        w.add(a.ts, a)
        accounts = sorted({str(x.actor.name) for x in w if x.actor})
        if len(accounts) < self.min_accounts and not self._aes.get(key):
            return []
        name = target_dc(a, self.resolver)
        sources = sorted({x.src_ip or "?" for x in w})
        return [self.draft(
            key=dc,
            activities=w.items(),
            description=(f"The encryption in Kerberos replies sent by {name} to "
                         f"{', '.join(sources)} was weaker than the clients asked for and than "
                         f"previously learned ({etype_name(f.get('reply_etype'))} for "
                         f"{len(accounts)} account(s) that pre-authenticated with AES), which "
                         f"can mean a Skeleton Key on {name}."),
            entities=refs(host_ref(name, "domain controller"),
                          *(EntityRef("user", n, "affected account") for n in accounts)),
            evidence={"accounts": accounts, "sources": sources,
                      "reply_etype": etype_name(f.get("reply_etype")),
                      "preauth_etype": etype_name(f.get("preauth_etype"))},
        )]
