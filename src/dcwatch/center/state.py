"""What the center keeps in the database besides alerts: checkpoints and health issues.

Both live in tables of migration 4 (``store.schema.center_checkpoints``, ``health_issues``), so
they work on SQLite and PostgreSQL alike and travel with the alerts in a backup.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, insert, select, update

from dcwatch import __version__
from dcwatch.store import Store
from dcwatch.store import schema as t

STATE_FORMAT = 1

# kind -> (severity, resolution): product.md section 12, for what a center can see.
ISSUES: dict[str, tuple[str, str]] = {
    "sensor_silent": ("high", "Check that the sensor service runs and reaches the bus "
                              "(systemctl status dcwatch-sensor; its spool directory grows while "
                              "it cannot)."),
    "capture_drops": ("medium", "The kernel dropped packets: give the sensor more CPU, a larger "
                                "capture buffer, or a narrower capture filter."),
    "spool_drops": ("high", "The sensor's spool overflowed while the bus was unreachable: "
                            "activities were lost. Restore the bus link, raise --spool-max."),
    "bus_lag": ("medium", "The center processes activities later than they arrive: add a core "
                          "to the center, split sites over centers, or check the database."),
    "clock_skew": ("medium", "The sensor's clock differs from the bus's: fix NTP on the sensor "
                             "(time-based detections depend on it)."),
    "late_activities": ("low", "Activities arrived after their time was processed (a sensor "
                               "was silent, then caught up; or a live source produced them "
                               "later than the sensor's --lateness allows: raise it): they "
                               "were analysed out of order."),
}


def save_checkpoint(store: Store, name: str, positions: dict[str, int], state: bytes,
                    activities: int) -> None:
    """Replace the center's checkpoint (one transaction)."""
    cp = t.center_checkpoints
    now = datetime.now(UTC)
    row = {"positions": positions, "state": state, "activities": activities,
           "format": STATE_FORMAT, "dcwatch_version": __version__, "updated_at": now}
    with store.engine.begin() as c:
        if c.execute(update(cp).where(cp.c.name == name).values(**row)).rowcount == 0:
            c.execute(insert(cp).values(name=name, **row))


def load_checkpoint(store: Store, name: str) -> tuple[dict[str, int], bytes, int] | None:
    """(stream positions, pickled state, activities) of the last checkpoint, if any."""
    cp = t.center_checkpoints
    with store.engine.connect() as c:
        r = c.execute(select(cp).where(cp.c.name == name)).mappings().first()
    if r is None or r["format"] != STATE_FORMAT:
        return None
    return {k: int(v) for k, v in (r["positions"] or {}).items()}, bytes(r["state"]), \
        int(r["activities"])


def drop_checkpoint(store: Store, name: str) -> None:
    """Forget a checkpoint (``dcwatch center --reset``)."""
    with store.engine.begin() as c:
        c.execute(delete(t.center_checkpoints).where(t.center_checkpoints.c.name == name))


@dataclass(slots=True)
class _Change:
    open: bool
    description: str = ""
    detail: dict[str, Any] | None = None


class HealthBook:
    """Health issues raised and cleared in memory, written at the center's next commit."""

    def __init__(self) -> None:
        self.open: set[tuple[str, str, str]] = set()
        self._pending: dict[tuple[str, str, str], _Change] = {}

    def raise_issue(self, kind: str, site: str, sensor: str, description: str,
                    detail: dict[str, Any] | None = None) -> None:
        key = (kind, site, sensor)
        self.open.add(key)
        self._pending[key] = _Change(True, description, detail)

    def clear(self, kind: str, site: str, sensor: str) -> None:
        key = (kind, site, sensor)
        if key in self.open:
            self.open.discard(key)
            self._pending[key] = _Change(False)

    def flush(self, store: Store) -> int:
        """Write pending changes; returns how many."""
        return self.write(store, self.take())

    def take(self) -> dict[tuple[str, str, str], _Change]:
        """The pending changes, handed over (to :meth:`write` on the writer thread)."""
        pending, self._pending = self._pending, {}
        return pending

    @staticmethod
    def write(store: Store, pending: dict[tuple[str, str, str], _Change]) -> int:
        """Write changes taken with :meth:`take`; returns how many."""
        if not pending:
            return 0
        h = t.health_issues
        now = datetime.now(UTC)
        with store.engine.begin() as c:
            for (kind, site, sensor), ch in pending.items():
                where = (h.c.kind == kind, h.c.site == site, h.c.sensor == sensor,
                         h.c.status == "open")
                row = c.execute(select(h.c.id, h.c.count).where(*where)).first()
                if not ch.open:
                    if row is not None:
                        c.execute(update(h).where(h.c.id == row.id).values(
                            status="closed", closed_at=now))
                    continue
                if row is not None:
                    c.execute(update(h).where(h.c.id == row.id).values(
                        description=ch.description, detail=ch.detail,
                        count=row._mapping["count"] + 1,
                        last_seen=now))
                else:
                    sev, resolution = ISSUES.get(kind, ("medium", ""))
                    c.execute(insert(h).values(
                        kind=kind, site=site, sensor=sensor, severity=sev, status="open",
                        description=ch.description, resolution=resolution, detail=ch.detail,
                        count=1, first_seen=now, last_seen=now))
        return len(pending)


def list_issues(store: Store, status: str | None = "open") -> list[dict[str, Any]]:
    """Health issues, newest first (``status=None``: open and closed)."""
    h = t.health_issues
    q = select(h).order_by(h.c.last_seen.desc(), h.c.id.desc())
    if status:
        q = q.where(h.c.status == status)
    with store.engine.connect() as c:
        return [dict(r) for r in c.execute(q).mappings()]
