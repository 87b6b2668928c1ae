"""Suspicious deletion of the certificate database entries: MDI external ID 2433.

Rows are deleted from the certification authority's database (issued/failed requests, CRL
entries): covering the tracks of a fraudulent certificate. AD CS sensor only.
Sources: AD CS event 4896 on the CA (table, filter, rows deleted).
Known false positive: planned CA database clean-up (exclude the PKI administrators).
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._adcs import ca_alert_parts, ca_key, kept
from dcwatch.detectors.base import Detector
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity


class AdcsDatabaseDeletion(Detector):
    slug: ClassVar[str] = "adcs-database-deletion"
    external_id: ClassVar[int] = 2433
    title: ClassVar[str] = "Suspicious deletion of the certificate database entries"
    phase: ClassVar[Phase] = Phase.OTHER
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1070",)
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.ADCS_ROWS_DELETED})

    min_rows: ClassVar[int] = 1  # a 4896 reporting 0 rows deleted nothing

    def observe(self, a: Activity) -> list[AlertDraft]:
        rows = a.fields.get("rows_deleted")
        if rows is not None and rows < self.min_rows:
            return []
        who, ca, entities = ca_alert_parts(a, self.resolver)
        table = a.fields.get("table")
        what = f"{rows} row(s)" if rows is not None else "rows"
        return [self.draft(
            key=ca_key(a, self.resolver),
            activities=[a],
            description=f"{who} deleted {what} from the certificate database"
                        f"{f' ({table} table)' if table else ''} of certification authority "
                        f"{ca}.",
            entities=entities,
            evidence=kept((("certification_authority", ca), ("table", table),
                           ("filter", a.fields.get("filter")), ("rows_deleted", rows))),
        )]
