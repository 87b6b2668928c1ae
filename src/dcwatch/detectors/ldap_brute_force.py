"""Suspected Brute Force attack (LDAP): MDI external ID 2004.

Many LDAP simple binds (cleartext passwords) failing with invalidCredentials (49) from one source
within ``window``: horizontal (many accounts), vertical (many passwords for one account) or
mixed. A success for an account that failed before marks it guessed. When the decoder reports a
salted hash of the attempted password (``password_hash``), distinct passwords are counted too.
Thresholds: High ``min_failures`` (10), Medium 5, Low 3.
Known false positives: a service with a stale password (one account, many failures).
State: per source a SlidingWindow (10 min) in a BoundedDict of 10k sources: ~2 MB.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import source, target_dc, where
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    SlidingWindow,
    refs,
)
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

INVALID_CREDENTIALS = 49  # RFC 4511 4.1.9


class LdapBruteForce(Detector):
    slug: ClassVar[str] = "ldap-brute-force"
    external_id: ClassVar[int] = 2004
    title: ClassVar[str] = "Suspected Brute Force attack (LDAP)"
    phase: ClassVar[Phase] = Phase.CREDENTIAL_ACCESS
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1110", "T1110.001", "T1110.003")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.LDAP_BIND})

    window: ClassVar[timedelta] = timedelta(minutes=10)
    min_failures: ClassVar[int] = 10

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._recent: BoundedDict[SlidingWindow[Activity]] = BoundedDict(10_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        if f.get("auth") != "simple" or not f.get("cleartext_password") or not f.get("name"):
            return []
        ip, host = source(a, self.resolver)
        if not ip:
            return []
        w = self._recent.get(ip)
        if w is None:
            w = SlidingWindow[Activity](self.window, 5000)
            self._recent[ip] = w
        w.add(a.ts, a)
        fails = [x for x in w if x.status == INVALID_CREDENTIALS]
        need = {"high": self.min_failures, "medium": 5, "low": 3}[self.threshold]
        if len(fails) < need:
            return []
        failed_names = {str(x.fields.get("name")).lower() for x in fails}
        guessed = sorted({str(x.fields.get("name")) for x in w if x.status == 0 and
                          str(x.fields.get("name")).lower() in failed_names})
        accounts = sorted({str(x.fields.get("name")) for x in fails})
        pw = {x.fields.get("password_hash") for x in fails} - {None}
        dc = target_dc(a, self.resolver)
        src = where(ip, host)
        found = f"; {len(guessed)} password(s) were found ({', '.join(guessed)})" if guessed \
            else ""
        return [self.draft(
            key=ip,
            activities=w.items(),
            description=(f"{src} made {len(fails)} LDAP password guesses against "
                         f"{len(accounts)} account(s) on {dc}{found}."),
            entities=refs(host_ref(host, "source computer", ip),
                          host_ref(dc, "target domain controller"),
                          *(EntityRef("user", n, "attacked account") for n in accounts),
                          *(EntityRef("user", n, "guessed account") for n in guessed)),
            evidence={"attempts": len(fails), "accounts": accounts, "guessed": guessed,
                      "distinct_passwords": len(pw) if pw else None, "source_ip": ip},
        )]
