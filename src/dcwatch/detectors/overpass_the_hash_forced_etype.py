"""Suspected over-pass-the-hash attack (forced encryption type): MDI external ID 2008.

An NT hash turned into a TGT: the AS-REQ's pre-authentication (PA-ENC-TIMESTAMP) is encrypted
with RC4/DES and the client offered no AES etype at all, for an account/computer that normally
uses AES. Windows and MIT clients always offer AES; a client that knows only the NT hash cannot.
Sources: wire AS-REQ (``etypes``, ``preauth_etype``); event 4768 with Pre-Authentication Type 2
and Ticket Encryption Type 0x17 (weaker: no etype list), merged into one alert per
(account, source).
Samba's KDC audit gives the pre-auth key type itself (``passwordType``): an RC4 pre-auth there
counts like the wire's. Modes: ``scan`` (no history) alerts unless the data shows the account to
be RC4-only (its other AS exchanges used only weak etypes); from logs, accounts created, renamed
or reset within the last hour are skipped (a new/renamed account may have no usable AES keys;
noPac's renamed computer account is the classic case, 2419's business).
Live mode learns per account and per source the pre-auth etypes for a month, then (threshold
High) alerts only where AES was learned.
Known false positives: accounts or smart-card setups really limited to RC4/DES (check
msDS-SupportedEncryptionTypes); exclude the account.
State: two BoundedDicts (account -> etype flags, source IP -> etype flags), ~150 bytes per key:
~3 MB per 10k accounts (+ their computers).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import (
    AES,
    PA_ENC_TIMESTAMP,
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
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

_AES_SEEN = 1
_WEAK_SEEN = 2


class OverpassTheHashForcedEtype(Detector):
    slug: ClassVar[str] = "overpass-the-hash-forced-etype"
    external_id: ClassVar[int] = 2008
    title: ClassVar[str] = ("Suspected over-pass-the-hash attack (forced encryption type)")
    phase: ClassVar[Phase] = Phase.LATERAL_MOVEMENT
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1550", "T1550.002", "T1550.003")
    handles: ClassVar[frozenset[str]] = frozenset({
        ActivityKind.KERBEROS_AS, ActivityKind.ACCOUNT_CREATED,
        ActivityKind.COMPUTER_CREATED, ActivityKind.ACCOUNT_RENAMED,
        ActivityKind.PASSWORD_RESET})
    fresh_window: ClassVar[timedelta] = timedelta(hours=1)
    learning_period: ClassVar[timedelta | None] = timedelta(days=30)

    max_keys: ClassVar[int] = 200_000

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._accounts: BoundedDict[int] = BoundedDict(self.max_keys)
        self._sources: BoundedDict[int] = BoundedDict(self.max_keys)
        self._fresh: BoundedDict[datetime] = BoundedDict(10_000)  # account -> created/renamed

    def lateral_movement_path(self, account: str) -> list[str]:
        """Evidence hook: computers on a lateral movement path to ``account`` (none known yet;
        a future LMP module fills this and the description then says so)."""
        return []

    def observe(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        if a.kind is not ActivityKind.KERBEROS_AS:
            for n in (a.target.name if a.target else None, f.get("new_name"),
                      f.get("sam_account_name")):
                if n:
                    self._fresh[acct_key(Account(n))] = a.ts
            return []
        if a.actor is None or not a.actor.name or a.outcome == "failure":
            return []
        if wire(a):
            if PA_ENC_TIMESTAMP not in (f.get("pa_types") or ()):
                return []
            pre = f.get("preauth_etype")
            offered = set(f.get("etypes") or ())
            weak = pre in WEAK and not (offered & AES)
            strong = pre in AES
        elif a.protocol == "samba":  # Samba's KDC audit: passwordType = the pre-auth key type
            if not f.get("password_type") or f.get("ticket_etype") is None:
                return []
            pre = f["ticket_etype"]
            weak, strong = pre in WEAK, pre in AES
        else:  # 4768: only the issued etype and the pre-auth type are known
            if f.get("preauth_type") != PA_ENC_TIMESTAMP or f.get("ticket_etype") is None:
                return []
            pre = f["ticket_etype"]
            weak, strong = pre in WEAK, pre in AES
        if not (weak or strong):
            return []
        acct = acct_key(a.actor)
        ip = norm_ip(a.src_ip)
        skey = ip or (a.src_host or "").lower()
        if strong:
            self._flag(acct, skey, _AES_SEEN)
            return []
        prev_a, prev_s = self._accounts.get(acct, 0), self._sources.get(skey, 0) if skey else 0
        self._flag(acct, skey, _WEAK_SEEN)
        if self.learning(a.host or "kdc", a.ts):
            return []
        if self.ctx.config.mode == "live" and self.threshold == "high":
            if not ((prev_a | prev_s) & _AES_SEEN):
                return []
        elif prev_a == _WEAK_SEEN:
            return []  # the data shows this account authenticating with RC4/DES only
        elif not wire(a) and self._is_fresh(acct, a.ts):
            return []  # a just created/renamed/reset account may have no usable AES keys
        return [self._draft(a, acct, pre, bool((prev_a | prev_s) & _AES_SEEN))]

    def _is_fresh(self, acct: str, ts: datetime) -> bool:
        t = self._fresh.get(acct) or self._fresh.get(acct.rstrip("$"))
        return t is not None and abs(ts - t) <= self.fresh_window

    def _flag(self, acct: str, skey: str, flag: int) -> None:
        self._accounts[acct] = self._accounts.get(acct, 0) | flag
        if skey:
            self._sources[skey] = self._sources.get(skey, 0) | flag

    def _draft(self, a: Activity, acct: str, pre: int | None, aes_known: bool) -> AlertDraft:
        ip, host = source(a, self.resolver)
        dc = target_dc(a, self.resolver)
        src = where(ip, host)
        who = acct_text(a.actor)
        path = self.lateral_movement_path(acct)
        lmp = (f" {who} is on a lateral movement path from {', '.join(path)}." if path else "")
        offered = a.fields.get("etypes")
        return self.draft(
            key=f"{acct}|{(ip or host or '?').lower()}",
            activities=[a],
            description=(f"The AS-REQ encrypted timestamp of {who} from {src} to {dc} used "
                         f"weaker encryption ({etype_name(pre)}) than expected: possible "
                         f"over-pass-the-hash, {who}'s NT hash used on {src} to get a "
                         f"Kerberos ticket.{lmp}"),
            entities=refs(user_ref(a.actor, "compromised account"),
                          host_ref(host, "source computer", ip),
                          host_ref(dc, "target domain controller")),
            evidence={"encrypted_timestamp_etype": etype_name(pre),
                      "source_computer_supported_etypes":
                          [etype_name(e) for e in offered] if offered else None,
                      "aes_previously_seen": aes_known, "source_ip": ip,
                      "source_computer": host, "domain_controller": dc,
                      "lateral_movement_path": path},
        )
