"""Suspicious disable of audit filters of AD CS: MDI external ID 2434.

The certification authority's audit filter (CA\\AuditFilter) is changed so that categories of
CA events are no longer audited: a step before abusing the CA unseen. AD CS sensor only.
Sources: AD CS event 4885 on the CA (the new filter value).
Fires when the new filter turns off a category that the previous filter (when seen) audited;
without a previous value, any category off against the full filter 127.
Known false positive: planned maintenance, e.g. auditing reduced for a large database restart.
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._adcs import ca_alert_parts, ca_key, kept
from dcwatch.detectors._common import dc_key
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

# CA audit filter bits (certutil -setreg CA\AuditFilter; "Auditing" tab of the CA console)
CATEGORIES = {
    1: "start and stop AD CS",
    2: "back up and restore the CA database",
    4: "issue and manage certificate requests",
    8: "revoke certificates and publish CRLs",
    16: "change CA security settings",
    32: "store and retrieve archived keys",
    64: "change CA configuration",
}
FULL = 127


class AdcsAuditFilterDisabled(Detector):
    slug: ClassVar[str] = "adcs-audit-filter-disabled"
    external_id: ClassVar[int] = 2434
    title: ClassVar[str] = "Suspicious disable of audit filters of AD CS"
    phase: ClassVar[Phase] = Phase.OTHER
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1562", "T1562.002")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.ADCS_AUDIT_FILTER_CHANGED})

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._last: BoundedDict[int] = BoundedDict(10_000)  # CA -> last filter seen

    def observe(self, a: Activity) -> list[AlertDraft]:
        new = a.fields.get("audit_filter")
        if new is None:
            return []
        ca_id = dc_key(a.host)
        old = self._last.get(ca_id)
        self._last[ca_id] = new
        before = FULL if old is None else old
        off = [name for bit, name in CATEGORIES.items() if before & bit and not new & bit]
        if not off:
            return []
        who, ca, entities = ca_alert_parts(a, self.resolver)
        return [self.draft(
            key=ca_key(a, self.resolver),
            activities=[a],
            description=f"{who} changed the audit filter of certification authority {ca} to "
                        f"{new}, turning off auditing of: {'; '.join(off)}.",
            entities=entities,
            evidence=kept((("certification_authority", ca), ("old_audit_filter", old),
                           ("new_audit_filter", new), ("categories_turned_off", off))),
        )]
