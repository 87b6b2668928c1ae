"""Alerts as the product contract defines them (DEVELOPERS.md, ``dcwatch scan --format jsonl``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from dcwatch.model.activity import Activity, iso


class Phase(StrEnum):
    """Kill-chain phase, as in ../shared/spec/alerts.csv."""

    RECONNAISSANCE = "reconnaissance"
    CREDENTIAL_ACCESS = "credential-access"
    LATERAL_MOVEMENT = "lateral-movement"
    PERSISTENCE = "persistence-privilege-escalation"
    EXFILTRATION = "exfiltration"
    OTHER = "other"


class Severity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Status(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    SUPPRESSED = "suppressed"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class EntityRef:
    """An entity named by an alert, with its role in it (attacker, victim, source computer, ...)."""

    kind: str  # user | computer | ip | group | domain | service | file
    name: str
    role: str
    sid: str | None = None
    ip: str | None = None

    def __reduce__(self) -> tuple[Any, ...]:
        # As a tuple of its fields: the dataclass default for frozen slots classes runs Python
        # code per object, and the center's checkpoints pickle many of them.
        return (EntityRef, (self.kind, self.name, self.role, self.sid, self.ip))

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"kind": self.kind, "name": self.name}
        if self.sid:
            d["sid"] = self.sid
        if self.ip:
            d["ip"] = self.ip
        d["role"] = self.role
        return d


@dataclass(slots=True)
class AlertDraft:
    """What a detector hands the engine: the engine decides new versus updated."""

    slug: str
    key: str  # same key while the alert is open -> update, not a duplicate
    description: str
    activities: list[Activity]
    entities: list[EntityRef] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None  # override the detector's default (variable severities)


@dataclass(slots=True)
class Alert:
    """A security alert: MDI title and external ID, entities, evidence and activity log."""

    id: str
    type: str
    external_id: int
    title: str
    description: str
    severity: Severity
    phase: Phase
    status: Status
    first_seen: datetime
    last_seen: datetime
    key: str
    entities: list[EntityRef] = field(default_factory=list)
    evidence: dict[str, Any] = field(default_factory=dict)
    activities: list[Activity] = field(default_factory=list)
    count: int = 1  # how many times the detector fired into this alert (MDI "update")
    mitre: tuple[str, ...] = ()
    trigger: str = "new"  # new | update: what the last change was (CEF cs2)

    @staticmethod
    def make_id(slug: str, key: str, first: Activity) -> str:
        """Deterministic id: re-ingesting the same data yields the same alert id."""
        h = hashlib.blake2b(f"{slug}|{key}|{first.uid}".encode(), digest_size=10)
        return h.hexdigest()

    def to_dict(self, *, with_activities: bool = True) -> dict[str, Any]:
        """The JSON shape of ``dcwatch scan --format jsonl`` (one alert per line)."""
        d: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "external_id": self.external_id,
            "title": self.title,
            "description": self.description,
            "severity": str(self.severity),
            "phase": str(self.phase),
            "status": str(self.status),
            "first_seen": iso(self.first_seen),
            "last_seen": iso(self.last_seen),
            "count": self.count,
            "mitre": list(self.mitre),
            "entities": [e.to_dict() for e in self.entities],
            "evidence": self.evidence,
        }
        if with_activities:
            d["activities"] = [a.to_dict() for a in self.activities]
        return d
