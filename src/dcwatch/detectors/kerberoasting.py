"""Suspected Kerberos SPN exposure: MDI external ID 2410.

Kerberoasting: service tickets requested for service accounts so that they can be cracked
offline. Wire: a TGS-REQ that offers only RC4/DES (no AES) for a service that is not krbtgt and
not a computer's built-in service class (cifs, host, ldap, ...), answered with an RC4/DES
ticket (crackable) - one is enough - or ``min_spns`` distinct such services from one source in
``window`` whatever the answer. Event 4769 (no etype list): ``min_spns`` distinct services with
Ticket Encryption Type 0x17/DES from one source in ``window``. Same key for both sources.
Known false positives: legacy applications that only speak RC4 (exclude the source computer).
State: per source a SlidingWindow of requests (5 min), BoundedDict of 10k sources: ~2 MB.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import (
    AES,
    WEAK,
    acct_text,
    etype_name,
    is_tgt,
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
    user_ref,
)
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

# Service classes registered on computer accounts (random 120-char passwords: not roastable)
MACHINE_CLASSES = frozenset({
    "cifs", "host", "ldap", "gc", "rpcss", "termsrv", "wsman", "dns", "kadmin", "krbtgt",
    "restrictedkrbhost", "e3514235-4b06-11d1-ab04-00c04fc2dcd2", "dfsr-12f9a27c-bf97-4787-9364-"
    "d31b6c55eb04", "netlogon", "protectedstorage", "samba", "nfs",
})


def _user_spn(sname: str | None) -> bool:
    if not sname or is_tgt(sname) or sname.endswith("$"):
        return False
    cls = sname.split("/", 1)[0].lower()
    return "/" in sname and cls not in MACHINE_CLASSES


class Kerberoasting(Detector):
    slug: ClassVar[str] = "kerberoasting"
    external_id: ClassVar[int] = 2410
    title: ClassVar[str] = "Suspected Kerberos SPN exposure"
    phase: ClassVar[Phase] = Phase.CREDENTIAL_ACCESS
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1558", "T1558.003")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.KERBEROS_TGS})

    window: ClassVar[timedelta] = timedelta(minutes=5)
    min_spns: ClassVar[int] = 3

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._recent: BoundedDict[SlidingWindow[Activity]] = BoundedDict(10_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        sname = f.get("sname") or f.get("service")
        if not _user_spn(sname):
            return []
        if wire(a):
            offered = set(f.get("etypes") or ())
            if not offered or offered & AES or not offered <= WEAK:
                return []
            crackable = a.outcome == "success" and f.get("ticket_etype") in WEAK
        else:
            if a.outcome != "success" or f.get("ticket_etype") not in WEAK:
                return []
            crackable = False  # one RC4 ticket in a log is routine in RC4 domains
        ip = norm_ip(a.src_ip) or (a.src_host or "").lower()
        if not ip:
            return []
        w = self._recent.get(ip)
        if w is None:
            w = SlidingWindow[Activity](self.window, 1000)
            self._recent[ip] = w
        w.add(a.ts, a)
        spns = {x.fields.get("sname") or x.fields.get("service") for x in w}
        if not crackable and len(spns) < self.min_spns:
            return []
        return [self._draft(a, w.items(), sorted(s for s in spns if s))]

    def _draft(self, a: Activity, acts: list[Activity], spns: list[str]) -> AlertDraft:
        ip, host = source(a, self.resolver)
        dc = target_dc(a, self.resolver)
        cracked = sorted({x.fields.get("sname") or x.fields.get("service") or "" for x in acts
                          if x.outcome == "success" and x.fields.get("ticket_etype") in WEAK})
        who = acct_text(a.actor)
        return self.draft(
            key=(ip or host or "?").lower(),
            activities=acts,
            description=(f"{who} on {where(ip, host)} requested Kerberos service tickets with "
                         f"RC4 encryption for {len(spns)} service(s) ({', '.join(spns)}) from "
                         f"{dc}; {len(cracked)} ticket(s) can be cracked offline."),
            entities=refs(user_ref(a.actor, "attacker"),
                          host_ref(host, "source computer", ip),
                          host_ref(dc, "target domain controller"),
                          *(EntityRef("service", s, "exposed service") for s in spns)),
            evidence={"services": spns, "crackable_tickets": cracked,
                      "requested_etypes": [etype_name(e) for e in a.fields.get("etypes") or ()],
                      "source_ip": ip, "source_computer": host},
        )
