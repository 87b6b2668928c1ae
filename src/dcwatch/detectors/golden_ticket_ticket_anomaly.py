"""Suspected Golden Ticket usage (ticket anomaly): MDI external ID 2032.

A TGT the KDC never issued (its fingerprint was not seen in any AS-REP/TGS-REP) is presented in
a TGS-REQ *and* carries a concrete forgery anomaly:
* the KDC rejects it as not made with its current krbtgt key (KRB_AP_ERR_BADKEYVER 44,
  KRB_AP_ERR_MODIFIED 41, KRB_AP_ERR_BAD_INTEGRITY 31);
* its key version differs from the KDC's TGTs (``used_ticket_kvno``, when the decoder emits it);
* its cipher size is far from what the KDC issues (``used_ticket_cipher_len``, same).
An unseen TGT alone never alerts (it may predate the capture). Once a computer presented a forged
TGT, further never-issued TGTs it presents within ``follow_window`` update the alert: that is
how the accepted forgery (and the account it impersonates) gets named.
Sources: wire Kerberos only.
Known false positives: clients holding TGTs from before a double krbtgt password reset (they
get the same errors); federation services that mint tickets.
State: ``TgtTracker`` (shared by the family, ~10 MB per 10k accounts) + forged-source marks
(BoundedDict, ~200 B each).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._golden import TgtTracker
from dcwatch.detectors._netcommon import (
    ANONYMOUS_PRINCIPALS,
    KRB_AP_ERR_BAD_INTEGRITY,
    KRB_AP_ERR_BADKEYVER,
    KRB_AP_ERR_MODIFIED,
    KRB_ERR_NAMES,
    etype_name,
    source,
    target_dc,
    where,
)
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, refs
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

REJECTED = frozenset({KRB_AP_ERR_BADKEYVER, KRB_AP_ERR_MODIFIED, KRB_AP_ERR_BAD_INTEGRITY})


class GoldenTicketTicketAnomaly(Detector):
    slug: ClassVar[str] = "golden-ticket-ticket-anomaly"
    external_id: ClassVar[int] = 2032
    title: ClassVar[str] = "Suspected Golden Ticket usage (ticket anomaly)"
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1558", "T1558.001")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.KERBEROS_AS,
                                                   ActivityKind.KERBEROS_TGS})

    follow_window: ClassVar[timedelta] = timedelta(hours=1)
    size_tolerance: ClassVar[float] = 0.5  # cipher length off by >50% of the KDC's TGTs

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.tgts = self.shared("golden-tgt-tracker", TgtTracker)
        self._forged: BoundedDict[dict[str, Any]] = BoundedDict(10_000)  # source ip -> story
        self._kvnos: set[int] = set()
        self._sizes: list[int] = []

    def observe(self, a: Activity) -> list[AlertDraft]:
        self._learn_kdc(a)
        use = self.tgts.observe(a)
        if use is None or use.issued or not use.src_ip:
            return []
        why = self._anomaly(a)
        story = self._forged.get(use.src_ip)
        if why is None and (story is None or a.ts - story["last"] > self.follow_window):
            return []
        if story is None:
            story = {"anomalies": [], "users": [], "services": [], "tickets": [],
                     "rejected": 0, "last": a.ts}
            self._forged[use.src_ip] = story
        story["last"] = a.ts
        if why and why not in story["anomalies"]:
            story["anomalies"].append(why)
        if a.outcome == "failure":
            story["rejected"] += 1
        cname = a.fields.get("reply_cname") or (a.actor.name if a.actor else None)
        if cname and cname.lower() not in ANONYMOUS_PRINCIPALS and cname not in story["users"]:
            story["users"].append(cname)
        svc = a.fields.get("sname")
        if svc and svc not in story["services"]:
            story["services"].append(svc)
        tk = f"{use.fingerprint[:16]} ({etype_name(use.etype)})"
        if tk not in story["tickets"]:
            story["tickets"].append(tk)
        return [self._draft(a, use.src_ip, story)]

    def _learn_kdc(self, a: Activity) -> None:
        f = a.fields
        if a.outcome == "success" and f.get("ticket_fingerprint") and \
                str(f.get("sname") or "").lower().startswith("krbtgt"):
            if f.get("ticket_kvno") is not None and len(self._kvnos) < 16:
                self._kvnos.add(int(f["ticket_kvno"]))
            if f.get("ticket_cipher_len") and len(self._sizes) < 1000:
                self._sizes.append(int(f["ticket_cipher_len"]))

    def _anomaly(self, a: Activity) -> str | None:
        f = a.fields
        if a.status in REJECTED:
            return (f"the KDC rejected the TGT with {KRB_ERR_NAMES[a.status]}: it was not made "
                    f"with the KDC's current krbtgt key")
        kvno = f.get("used_ticket_kvno")
        if kvno is not None and self._kvnos and int(kvno) not in self._kvnos:
            return f"TGT key version {kvno} differs from the KDC's ({sorted(self._kvnos)})"
        size = f.get("used_ticket_cipher_len")
        if size and self._sizes:
            typical = sorted(self._sizes)[len(self._sizes) // 2]
            if abs(int(size) - typical) > self.size_tolerance * typical:
                return f"TGT cipher of {size} bytes where the KDC issues ~{typical}"
        return None

    def _draft(self, a: Activity, ip: str, story: dict[str, Any]) -> AlertDraft:
        _, host = source(a, self.resolver)
        src = where(ip, host)
        dc = target_dc(a, self.resolver)
        users = story["users"]
        services = ", ".join(story["services"]) or "a service"
        if users:
            desc = (f"From {src}, {', '.join(users)} accessed {services} on {dc} with a "
                    f"suspicious Kerberos ticket (a TGT {dc} never issued; "
                    f"{'; '.join(story['anomalies'])}).")
        else:
            desc = (f"From {src}, an unknown account tried to access {services} on {dc} with a "
                    f"forged Kerberos TGT ({'; '.join(story['anomalies'])}).")
        return self.draft(
            key=ip,
            activities=[a],
            description=desc,
            entities=refs(*(EntityRef("user", u, "impersonated account") for u in users),
                          host_ref(host, "source computer", ip),
                          host_ref(dc, "target domain controller")),
            evidence={"anomalies": list(story["anomalies"]), "services": list(story["services"]),
                      "accounts": list(users), "forged_tickets": list(story["tickets"]),
                      "rejected_requests": story["rejected"], "source_ip": ip,
                      "source_computer": host, "domain_controller": dc},
        )
