"""Incidents over the stored alerts: the portal's list, and the incident of one alert (for
notifications). Incidents are not stored: they are correlated on demand (``incidents.correlate``)
from the alerts of a bounded window, so closing or deleting an alert changes them at once.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from dcwatch.incidents import Incident, correlate
from dcwatch.model.alert import Alert
from dcwatch.store import schema as t
from dcwatch.store.db import Store

WINDOW = timedelta(hours=48)  # incidents.correlate's default link window


def _naive(v: datetime) -> datetime:
    return v.replace(tzinfo=None) if v.tzinfo is None else \
        v.astimezone(UTC).replace(tzinfo=None)


def _alerts(store: Store, since: datetime | None, until: datetime | None,
            limit: int) -> list[Alert]:
    a = t.alerts.c
    q = select(t.alerts).where(a.status != "deleted")
    if since is not None:
        q = q.where(a.last_seen >= _naive(since))
    if until is not None:
        q = q.where(a.first_seen <= _naive(until))
    q = q.order_by(a.last_seen.desc()).limit(limit)
    with store.engine.connect() as c:
        rows = list(c.execute(q).mappings())
        return [store._load(c, r, False) for r in rows]


def stored_incidents(store: Store, since: datetime | None = None,
                     until: datetime | None = None, limit: int = 20_000) -> list[Incident]:
    """Incidents of the newest ``limit`` stored alerts (deleted ones left out), newest first."""
    incs = correlate(_alerts(store, since, until, limit))
    return sorted(incs, key=lambda i: i.last_seen, reverse=True)


def incident_for(store: Store, alert: Alert, limit: int = 5_000) -> Incident | None:
    """The incident an alert belongs to (alerts within a few link windows of it)."""
    span = WINDOW * 3
    alerts = _alerts(store, alert.first_seen - span, alert.last_seen + span, limit)
    if not any(a.id == alert.id for a in alerts):
        alerts.append(alert)  # a listener may see the alert before the store does
    incs = correlate(alerts)
    for inc in incs:
        if any(a.id == alert.id for a in inc.alerts):
            return inc
    return None


def get_incident(store: Store, incident_id: str, limit: int = 20_000) -> Incident | None:
    """One incident by id, with its alerts' activity logs loaded."""
    for inc in stored_incidents(store, limit=limit):
        if inc.id == incident_id:
            return inc
    return None
