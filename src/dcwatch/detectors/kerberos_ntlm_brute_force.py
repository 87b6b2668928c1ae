"""Suspected Brute Force attack (Kerberos, NTLM): MDI external ID 2023.

One source fails Kerberos pre-authentication or NTLM validation many times: over many
accounts (horizontal / password spray) or many times for one account at machine speed
(vertical). A success from that source for an attacked account marks it "guessed".
Sources: KRB-ERROR 24 (``kerberos.as_request`` status 24) and NTLM wrong-password results on
the wire or in the Samba audit log; events 4771 (0x18), 4776 (0xC000006A), 4625.
4625 duplicates the 4776/4771 of the same attempt on a DC, so logon failures and validation
failures are counted apart and the larger count is used. A packet and the DC's log record of
the same attempt (same client port, account and result, seconds apart) count once.
Thresholds (product.md section 7): High (default) / Medium / Low lower the number of accounts
and failures needed; a one-week learning period per DC applies in live mode at High.
Known false positives: a service or script with a stale password (one account, a slow steady
rate: the vertical rule needs a machine-speed burst); a source that mostly tries names that do
not exist is account enumeration (2003), not a spray.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import display, host_ref, source_key
from dcwatch.detectors.account_enumeration import STATUS_NO_SUCH_USER, verdict
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    SlidingWindow,
    ip_ref,
    refs,
)
from dcwatch.entities.resolver import short
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind

KDC_ERR_PREAUTH_FAILED = 24  # RFC 4120 7.5.9
# MS-ERREF 2.3.1: wrong password, and the generic logon failure the wire shows the client
NTLM_BAD_PASSWORD = frozenset({0xC000006A, 0xC000006D})


def failure(a: Activity) -> str | None:
    """'validation' / 'logon' / 'wire' for a failed password guess, else None."""
    st = a.status
    if a.kind is K.KERBEROS_PREAUTH_FAILED:
        return "validation" if st in (None, KDC_ERR_PREAUTH_FAILED) else None
    if a.kind is K.KERBEROS_AS:
        return "validation" if st == KDC_ERR_PREAUTH_FAILED else None
    if a.kind is K.NTLM_VALIDATION:
        return "validation" if st in NTLM_BAD_PASSWORD else None
    if a.kind is K.NTLM_AUTH and a.protocol != "event":
        return "wire" if st in NTLM_BAD_PASSWORD and a.outcome == "failure" else None
    if a.kind is K.LOGON_FAILED:
        return "logon" if st in NTLM_BAD_PASSWORD else None
    return None


def success(a: Activity) -> bool:
    """A successful authentication (to mark an attacked account as guessed)."""
    if a.kind in (K.KERBEROS_AS, K.NTLM_VALIDATION, K.NTLM_AUTH, K.LOGON):
        return a.outcome == "success" and a.status in (0, None)
    return False


SAME_ATTEMPT = timedelta(seconds=2)  # a packet and the DC's log record of it

LEVELS = {  # threshold -> (spray accounts, vertical failures)
    "high": (5, 10),
    "medium": (4, 7),
    "low": (3, 5),
}


class KerberosNtlmBruteForce(Detector):
    slug: ClassVar[str] = "kerberos-ntlm-brute-force"
    external_id: ClassVar[int] = 2023
    title: ClassVar[str] = "Suspected Brute Force attack (Kerberos, NTLM)"
    phase: ClassVar[Phase] = Phase.CREDENTIAL_ACCESS
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1110", "T1110.001", "T1110.003")
    handles: ClassVar[frozenset[str]] = frozenset({
        K.KERBEROS_AS, K.KERBEROS_PREAUTH_FAILED, K.NTLM_VALIDATION, K.NTLM_AUTH,
        K.LOGON_FAILED, K.LOGON})
    learning_period: ClassVar[timedelta | None] = timedelta(weeks=1)

    window: ClassVar[timedelta] = timedelta(minutes=10)  # spray: accounts within it
    vertical_window: ClassVar[timedelta] = timedelta(minutes=2)  # burst on one account
    spray_accounts: ClassVar[int | None] = None  # override LEVELS (tunable)
    vertical_failures: ClassVar[int | None] = None

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._fails: BoundedDict[SlidingWindow[tuple[str, str, Activity]]] = \
            BoundedDict(50_000)
        self._unknown: BoundedDict[SlidingWindow[str]] = BoundedDict(50_000)
        self._guessed: BoundedDict[dict[str, Activity]] = BoundedDict(50_000)
        self._paired: BoundedDict[None] = BoundedDict(50_000)  # uids already matched once

    def _limits(self) -> tuple[int, int]:
        spray, vertical = LEVELS.get(self.threshold, LEVELS["high"])
        return self.spray_accounts or spray, self.vertical_failures or vertical

    def observe(self, a: Activity) -> list[AlertDraft]:
        name = (a.actor.name or "").strip().lower() if a.actor else ""
        if not name:
            return []
        ip = a.src_ip
        ws = a.src_host if a.kind in (K.NTLM_VALIDATION, K.LOGON_FAILED, K.NTLM_AUTH) else None
        if not ip and not ws:
            return []
        src = source_key(self.resolver, ip, ws)
        kind = failure(a)
        if kind is None:
            if verdict(a) is True or a.status == STATUS_NO_SUCH_USER:
                u = self._unknown.setdefault(src, SlidingWindow(self.window))
                u.add(a.ts, name)
            elif success(a) and src in self._fails and self._attacked(src, name):
                self._guessed.setdefault(src, {})[name] = a
                return self._evaluate(a, src, ip, ws, guessed=True)
            return []
        if self.learning(short(a.dst_host or a.host) or "?", a.ts):
            return []
        w = self._fails.setdefault(src, SlidingWindow(self.window))
        if self._seen_twice(w, name, kind, a):
            return []
        w.add(a.ts, (name, kind, a))
        return self._evaluate(a, src, ip, ws)

    def _seen_twice(self, w: SlidingWindow[tuple[str, str, Activity]], name: str, kind: str,
                    a: Activity) -> bool:
        """The same attempt seen on the wire and in the DC's log (a pcap and Samba's audit
        scanned together): same client port and account within ``SAME_ATTEMPT``, one from each
        side (the wire says LOGON_FAILURE where the log says WRONG_PASSWORD). Counted once; an
        unpaired record of either side still counts. Logon failures (4625) are counted apart
        already (the larger count is used), so they are never paired."""
        if not a.src_port:
            return False
        log = _from_log(a)
        for n, _k, x in w:
            if n == name and x.src_port == a.src_port and _from_log(x) != log and \
                    "logon" not in (_k, kind) and abs(a.ts - x.ts) <= SAME_ATTEMPT and \
                    x.uid not in self._paired:
                self._paired[x.uid] = None
                return True
        return False

    def _evaluate(self, a: Activity, src: str, ip: str | None, ws: str | None,
                  guessed: bool = False) -> list[AlertDraft]:
        w = self._fails[src]
        spray_min, vertical_min = self._limits()
        accounts: dict[str, dict[str, int]] = {}
        recent: dict[str, int] = {}
        for n, kind, x in w:
            accounts.setdefault(n, {}).setdefault(kind, 0)
            accounts[n][kind] += 1
            if a.ts - x.ts <= self.vertical_window:
                recent[n] = recent.get(n, 0) + (kind != "logon")
        counts = {n: max(k.get("validation", 0) + k.get("wire", 0), k.get("logon", 0))
                  for n, k in accounts.items()}
        unknown = {n for n in self._unknown.get(src, ())}
        pattern = None
        if len(accounts) >= spray_min and len(unknown) < len(accounts):
            pattern = "password spray" if max(counts.values()) <= 3 else "horizontal brute force"
        vertical = [n for n, c in counts.items() if c >= vertical_min]
        if pattern is None and vertical and max(
                max(recent.values(), default=0),
                max(self._recent_logons(w, a, n) for n in vertical)) >= vertical_min:
            pattern = "vertical brute force"
        if pattern is None:
            return []
        guessed_map = self._guessed.get(src, {})
        guessed_names = sorted(guessed_map)
        total = sum(counts.values())
        m = self.resolver.computer_for_ip(ip)
        host = ws or (m.host if m else None)
        who = display(host) if host else (ip or "an unknown computer")
        protocols = sorted({_protocol(x) for _, _, x in w})
        desc = (f"Suspicious authentication failures pointing to a possible brute-force attack "
                f"({pattern}) were seen from {who}: {total} failed passwords on "
                f"{len(accounts)} account(s) over {' and '.join(protocols)}")
        desc += f"; {len(guessed_names)} guessed ({', '.join(guessed_names)})." if \
            guessed_names else "."
        acts = [x for _, _, x in w][-200:] + list(guessed_map.values())
        return [self.draft(
            key=src,
            activities=acts,
            description=desc,
            entities=refs(host_ref(host, "source computer", ip),
                          ip_ref(ip, "source IP") if host else None,
                          *[EntityRef("user", n, "attacked account") for n in sorted(counts)],
                          *[EntityRef("user", n, "guessed account") for n in guessed_names]),
            evidence={"pattern": pattern, "failures": total, "protocols": protocols,
                      "attacked_accounts": {n: counts[n] for n in sorted(counts)},
                      "guessed_accounts": guessed_names, "source_ip": ip,
                      "source_computer": short(host) if host else None,
                      "threshold": self.threshold},
            severity=Severity.HIGH if guessed_names else None,
        )]

    def _attacked(self, src: str, name: str) -> bool:
        # guessed: the account itself failed before, or it logged on in the middle of a spray
        names = {n for n, _, _ in self._fails[src]}
        return name in names or len(names) >= 2

    def _recent_logons(self, w: SlidingWindow[tuple[str, str, Activity]], a: Activity,
                       name: str) -> int:
        return sum(1 for n, k, x in w if n == name and k == "logon"
                   and a.ts - x.ts <= self.vertical_window)


def _from_log(a: Activity) -> bool:
    """A DC's log record (Windows event, Samba audit) rather than a decoded packet."""
    return a.protocol in ("event", "samba")


def _protocol(a: Activity) -> str:
    if a.kind in (K.KERBEROS_AS, K.KERBEROS_PREAUTH_FAILED):
        return "Kerberos"
    text = str(a.fields.get("service") or a.fields.get("auth_package") or "").lower()
    return "Kerberos" if "kerberos" in text else "NTLM"
