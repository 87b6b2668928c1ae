"""Suspected Brute Force attack (SMB): MDI external ID 2033.

"Unusual protocol implementation (potential use of malicious tools such as Hydra)": many failed
SMB session setups (STATUS_LOGON_FAILURE, STATUS_WRONG_PASSWORD, STATUS_NO_SUCH_USER) from one
source within ``window`` *whose SMB/NTLM implementation is not a modern Windows/Samba one*: the
session runs over the SMB1 dialect, or authenticates with LM/NTLMv1 responses (on the wire, or in
the DC's log: Samba's audit names the password type of each SMB logon). Plain NTLMv2 over
SMB2/3 failures are 2023's business (Kerberos/NTLM brute force), not this alert.
Known false positives: legacy SMB1 devices with a stale password (one account: ``min_accounts``
is 1, so exclude the device).
State: per source a SlidingWindow (10 min) and an implementation flag: ~2 MB per 10k sources.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import acct_key, norm_ip, source, target_dc, where
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    SlidingWindow,
    refs,
)
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind
LOGON_FAILURES = frozenset({0xC000006D, 0xC000006A, 0xC0000064})  # MS-ERREF NTSTATUS
SMB1_DIALECTS = ("nt lm 0.12", "lanman", "pc network", "samba", "lm1.2x002")


class SmbBruteForce(Detector):
    slug: ClassVar[str] = "smb-brute-force"
    external_id: ClassVar[int] = 2033
    title: ClassVar[str] = "Suspected Brute Force attack (SMB)"
    phase: ClassVar[Phase] = Phase.LATERAL_MOVEMENT
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1110", "T1110.001", "T1110.003")
    handles: ClassVar[frozenset[str]] = frozenset({K.SMB_NEGOTIATE, K.SMB_SESSION,
                                                   K.NTLM_VALIDATION})

    window: ClassVar[timedelta] = timedelta(minutes=10)
    min_failures: ClassVar[int] = 10

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._legacy: BoundedDict[str] = BoundedDict(10_000)  # "ip|port" -> why
        self._recent: BoundedDict[SlidingWindow[Activity]] = BoundedDict(10_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        ip = norm_ip(a.src_ip)
        if not ip:
            return []
        conn = f"{ip}|{a.src_port}"
        if a.kind is K.SMB_NEGOTIATE:
            d = str(a.fields.get("dialect") or "").lower()
            if d.startswith(SMB1_DIALECTS):
                self._legacy[conn] = f"SMB1 dialect {a.fields.get('dialect')}"
            return []
        if a.status not in LOGON_FAILURES:
            return []
        if a.kind is K.NTLM_VALIDATION:
            why = self._logged_package(a)
        else:
            why = self._legacy.get(conn)
            version = a.fields.get("ntlm_version")
            if version in ("v1", "lm"):
                why = why or f"NTLM{version} responses"
        if not why:
            return []
        w = self._recent.get(ip)
        if w is None:
            w = SlidingWindow[Activity](self.window, 5000)
            self._recent[ip] = w
        w.add(a.ts, a)
        # one attempt = one connection and account: the wire session setup and the DC's log
        # record of the same attempt count once
        failures = len({(x.src_port, acct_key(x.actor)) if x.src_port else x.uid for x in w})
        if failures < self.min_failures:
            return []
        _, host = source(a, self.resolver)
        dc = target_dc(a, self.resolver)
        accounts = sorted({str(x.actor.name) for x in w if x.actor and x.actor.name})
        return [self.draft(
            key=ip,
            activities=w.items(),
            description=(f"{where(ip, host)} made {failures} failed SMB logons against "
                         f"{len(accounts)} account(s) on {dc} with an unusual protocol "
                         f"implementation ({why}), typical of brute-force tools."),
            entities=refs(host_ref(host, "source computer", ip),
                          host_ref(dc, "target server"),
                          *(EntityRef("user", n, "attacked account") for n in accounts)),
            evidence={"failures": failures, "accounts": accounts, "implementation": why,
                      "source_ip": ip},
        )]

    @staticmethod
    def _logged_package(a: Activity) -> str | None:
        """A DC's log of an SMB logon that used LM/NTLMv1 (Samba's passwordType)."""
        pkg = str(a.fields.get("package") or "").upper().replace(" ", "")
        service = str(a.fields.get("service") or "").upper()
        if pkg not in ("NTLMV1", "LM") or (service and not service.startswith("SMB")):
            return None
        return f"{'NTLMv1' if pkg == 'NTLMV1' else 'LM'} responses, per the DC's log"
