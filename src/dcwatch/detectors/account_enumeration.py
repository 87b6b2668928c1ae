"""Account enumeration reconnaissance: MDI external ID 2003.

One source submits many account names to the DC and most of them do not exist: Kerberos
AS-REQs answered KDC_ERR_C_PRINCIPAL_UNKNOWN (6) versus PREAUTH_REQUIRED/PREAUTH_FAILED or a
ticket for real names; NTLM STATUS_NO_SUCH_USER (0xC0000064) versus wrong password.
Sources: 4768 (status 0x6) and 4771, 4776 / 4625 (0xC0000064), and the same kinds from the
wire (``kerberos.as_request`` status 6) or the Samba audit log.
Evidence: protocol, attempts, the names that exist and those that do not.
Known false positives: Exchange / IAM servers validating names, scripts with departed users'
names; exclude the source computer. Machine accounts are ignored.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import ClassVar

from dcwatch.detectors._common import display, host_ref, source_key
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

KDC_ERR_C_PRINCIPAL_UNKNOWN = 6  # RFC 4120 7.5.9
STATUS_NO_SUCH_USER = 0xC0000064  # MS-ERREF 2.3.1
# NTSTATUS values that prove the name exists (MS-ERREF 2.3.1): bad password, restrictions,
# disabled, expired, locked out, must change, success.
NTLM_EXISTS = frozenset({0, 0xC000006A, 0xC000006E, 0xC000006F, 0xC0000070, 0xC0000071,
                         0xC0000072, 0xC0000193, 0xC0000224, 0xC0000234, 0xC0000413})


def verdict(a: Activity) -> bool | None:
    """True: the name does not exist; False: it exists; None: the record does not say."""
    st = a.status
    if a.kind is K.KERBEROS_AS:
        if st is None:
            return None
        return st == KDC_ERR_C_PRINCIPAL_UNKNOWN
    if a.kind is K.KERBEROS_PREAUTH_FAILED:
        return False
    if a.kind in (K.NTLM_VALIDATION, K.LOGON_FAILED):
        if st == STATUS_NO_SUCH_USER:
            return True
        return False if st in NTLM_EXISTS else None
    return None


class _Attempts:
    """One source's names within the window (a ``SlidingWindow`` of (name, unknown, activity),
    same eviction) with running counts per name and per unknown name: whether a name repeats
    and how many are unknown cost O(1) per activity, not a pass over the window."""

    __slots__ = ("items", "names", "span", "unknown")
    max_items = 10_000  # SlidingWindow's default bound

    def __init__(self, span: timedelta) -> None:
        self.span = span
        self.items: deque[tuple[datetime, str, bool, Activity]] = deque()
        self.names: dict[str, int] = {}  # name -> attempts in the window
        self.unknown: dict[str, int] = {}  # name -> attempts answered "no such account"

    @classmethod
    def of(cls, w: SlidingWindow[tuple[str, bool, Activity]], span: timedelta) -> _Attempts:
        """The same attempts, from the window a checkpoint of an older version holds."""
        out = cls(span)
        for ts, (name, unknown, a) in w._items:
            out.items.append((ts, name, unknown, a))
            out._count(name, unknown, 1)
        return out

    def _count(self, name: str, unknown: bool, d: int) -> None:
        for counts in (self.names, self.unknown) if unknown else (self.names,):
            n = counts.get(name, 0) + d
            if n:
                counts[name] = n
            else:
                del counts[name]

    def add(self, ts: datetime, name: str, unknown: bool, a: Activity) -> None:
        """Add an attempt, then evict by time and by count as ``SlidingWindow.add`` does."""
        items = self.items
        items.append((ts, name, unknown, a))
        self._count(name, unknown, 1)
        cutoff = ts - self.span
        while items and items[0][0] < cutoff:
            _, n, u, _ = items.popleft()
            self._count(n, u, -1)
        while len(items) > self.max_items:
            _, n, u, _ = items.popleft()
            self._count(n, u, -1)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self) -> Iterator[tuple[str, bool, Activity]]:
        return ((n, u, a) for _, n, u, a in self.items)


class AccountEnumeration(Detector):
    slug: ClassVar[str] = "account-enumeration"
    external_id: ClassVar[int] = 2003
    title: ClassVar[str] = "Account enumeration reconnaissance"
    phase: ClassVar[Phase] = Phase.RECONNAISSANCE
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1087", "T1087.002")
    handles: ClassVar[frozenset[str]] = frozenset({
        K.KERBEROS_AS, K.KERBEROS_PREAUTH_FAILED, K.NTLM_VALIDATION, K.LOGON_FAILED})

    window: ClassVar[timedelta] = timedelta(minutes=10)
    # A typo or a stale script yields one or two unknown names; five distinct unknown names from
    # one source within minutes, most of its names unknown, is a dictionary being tried. (The
    # spec proposes 10; MDI publishes none. Tunable.)
    min_unknown: ClassVar[int] = 5
    min_unknown_ratio: ClassVar[float] = 0.5

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._by_source: BoundedDict[_Attempts] = BoundedDict(50_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        unknown = verdict(a)
        name = (a.actor.name or "").strip() if a.actor else ""
        if unknown is None or not name or name.endswith("$"):
            return []
        ip = a.src_ip
        ws = a.src_host if a.kind in (K.NTLM_VALIDATION, K.LOGON_FAILED) else None
        if not ip and not ws:
            return []
        src = source_key(self.resolver, ip, ws)
        w = self._by_source.get(src)
        if w is None:
            w = self._by_source[src] = _Attempts(self.window)
        elif isinstance(w, SlidingWindow):  # a checkpoint of an older version: same place
            w = _Attempts.of(w, self.window)
            OrderedDict.__setitem__(self._by_source, src, w)
        low = name.lower()
        repeat = low in w.names
        w.add(a.ts, low, unknown, a)
        if repeat:
            return []  # the same name again adds nothing to the alert
        if len(w.unknown) < self.min_unknown or \
                len(w.unknown) / len(w.names) < self.min_unknown_ratio:
            return []  # most sources (every name they sent exists): nothing more to count
        missing, names = set(w.unknown), set(w.names)
        existing = sorted({_display(x) for n, u, x in w if not u and n not in missing})
        m = self.resolver.computer_for_ip(ip)
        host = ws or (m.host if m else None)
        protocols = sorted({_protocol(x) for _, _, x in w})
        who = display(host) if host else (ip or "an unknown computer")
        matched = f": {', '.join(existing)}" if existing else ""
        return [self.draft(
            key=src,
            activities=[x for _, _, x in w],
            description=f"Suspicious account enumeration over {' and '.join(protocols)} was seen "
                        f"from {who}: {len(names)} account-name guesses, {len(existing)} of "
                        f"which matched existing accounts{matched}.",
            entities=refs(host_ref(host, "source computer", ip),
                          ip_ref(ip, "source IP") if host else None,
                          host_ref(a.dst_host or a.host, "domain controller"),
                          *[EntityRef("user", e, "guessed account") for e in existing]),
            evidence={"protocols": protocols, "attempts": len(w), "names_tried": len(names),
                      "existing_accounts": existing,
                      "non_existing_accounts": sorted({_display(x) for n, u, x in w if u}),
                      "source_ip": ip, "source_computer": short(host) if host else None},
        )]


def _display(a: Activity) -> str:
    return (a.actor.name or "?") if a.actor else "?"


def _protocol(a: Activity) -> str:
    if a.kind in (K.KERBEROS_AS, K.KERBEROS_PREAUTH_FAILED):
        return "Kerberos"
    if a.kind is K.LOGON_FAILED and "kerberos" in str(a.fields.get("service") or
                                                        a.fields.get("auth_package") or
                                                        "").lower():
        return "Kerberos"
    return "NTLM"
