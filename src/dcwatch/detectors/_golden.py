"""Shared logic of the golden-ticket family (2009, 2013, 2022, 2027, 2032): TGT presentations.

Every wire TGS-REQ carries the TGT it presents (``used_ticket_fingerprint``, ``used_ticket_etype``,
``used_ticket_sname``). ``TgtUse`` tells whether the KDC was seen issuing that TGT (AS-REP or a
TGS-REP for krbtgt, fingerprints in a ``TicketLedger``) and when the TGT was first seen at all.
A TGT never seen issued is *not* suspicious by itself (it may predate the capture): each
detector demands a concrete anomaly on top.
State: the ledger (~200 B per ticket) plus first-use times of unknown TGTs (~120 B each):
~10 MB per 10k accounts at the default caps. The four detectors that read it share one tracker
(``Detector.shared``): it learns each activity once, not once per detector.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dcwatch.detectors._netcommon import TicketLedger, is_tgt, norm_ip, wire
from dcwatch.detectors.base import BoundedDict
from dcwatch.model.activity import Activity, ActivityKind


@dataclass(slots=True)
class TgtUse:
    """One TGT presented in a TGS-REQ."""

    fingerprint: str
    etype: int | None
    issued: bool  # the KDC was seen issuing it
    first_seen: datetime  # issue time, else first presentation
    src_ip: str | None


class TgtTracker:
    """Issued tickets and first sightings of TGTs (feed every wire AS/TGS activity)."""

    # The activity last learned from and its answer: the detectors sharing this tracker each
    # pass it the same activity, and only the first call may learn from it (class defaults:
    # checkpoints of trackers pickled before these existed load too).
    _last: Activity | None = None
    _last_use: TgtUse | None = None

    def __init__(self, max_tickets: int = 50_000) -> None:
        self.ledger = TicketLedger(max_tickets)
        self.first_use: BoundedDict[datetime] = BoundedDict(max_tickets)

    def observe(self, a: Activity) -> TgtUse | None:
        """Learn from a wire AS/TGS exchange; returns the TGT a TGS-REQ presented, if any.
        Called again with the same activity (another detector of the family), it answers
        what it answered the first time without learning twice."""
        if a is self._last:
            return self._last_use
        use = self._observe(a)
        self._last, self._last_use = a, use
        return use

    def _observe(self, a: Activity) -> TgtUse | None:
        if not wire(a) or a.kind not in (ActivityKind.KERBEROS_AS, ActivityKind.KERBEROS_TGS):
            return None
        f = a.fields
        use = None
        fp = f.get("used_ticket_fingerprint")
        if a.kind is ActivityKind.KERBEROS_TGS and fp and (
                is_tgt(f.get("used_ticket_sname")) or f.get("used_ticket_sname") is None):
            issue = self.ledger.get(fp)
            if issue is not None:
                first = issue.ts
            else:
                first = self.first_use.get(fp) or a.ts
                self.first_use[fp] = first
            use = TgtUse(fp, f.get("used_ticket_etype"), issue is not None, first,
                         norm_ip(a.src_ip))
        self.ledger.observe(a)
        return use
