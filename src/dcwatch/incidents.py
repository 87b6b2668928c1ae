"""Incidents: alerts that share an attacker-side entity within a time window, as one story.

Alerts are linked when they name the same source computer, source IP or attacking account
(entities on the attacker side: roles such as attacker, source computer, source IP), within
``window`` of each other. Domain controllers and victims are not links: every alert names a DC,
and a victim is not the attacker. Each incident tells its story phase by phase in time order
(MDI's attack story): which computer was infiltrated, which identities were used or stolen,
what was reached, and what the attacker did on the domain controllers.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from dcwatch.model.activity import iso
from dcwatch.model.alert import Alert, EntityRef, Phase, Severity

ATTACKER_ROLES = ("attacker", "source", "actor", "acting")
PHASE_ORDER = [Phase.RECONNAISSANCE, Phase.CREDENTIAL_ACCESS, Phase.LATERAL_MOVEMENT,
               Phase.PERSISTENCE, Phase.EXFILTRATION, Phase.OTHER]
PHASE_TEXT = {
    Phase.RECONNAISSANCE: "Reconnaissance",
    Phase.CREDENTIAL_ACCESS: "Compromised credentials",
    Phase.LATERAL_MOVEMENT: "Lateral movement",
    Phase.PERSISTENCE: "Domain dominance",
    Phase.EXFILTRATION: "Exfiltration",
    Phase.OTHER: "Execution and persistence",
}


@dataclass(slots=True)
class Incident:
    """A group of related alerts and the story they tell."""

    id: str
    title: str
    severity: Severity
    first_seen: datetime
    last_seen: datetime
    alerts: list[Alert]
    entities: list[EntityRef] = field(default_factory=list)
    story: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON shape (``dcwatch incidents --format jsonl``, API)."""
        return {
            "id": self.id, "title": self.title, "severity": self.severity.value,
            "first_seen": iso(self.first_seen), "last_seen": iso(self.last_seen),
            "alert_ids": [a.id for a in self.alerts],
            "phases": sorted({a.phase.value for a in self.alerts},
                             key=lambda p: PHASE_ORDER.index(Phase(p))),
            "entities": [e.to_dict() for e in self.entities],
            "story": self.story,
        }


def _pivots(a: Alert) -> set[tuple[str, str]]:
    out = set()
    for e in a.entities:
        if any(r in e.role for r in ATTACKER_ROLES) and "domain controller" not in e.role:
            # CONTOSO\x and CONTOSO.LOCAL\x (NetBIOS name or Kerberos realm) are one account
            out.add((e.kind, e.name.lower().rsplit("\\", 1)[-1]))
            if e.ip:
                out.add(("ip", e.ip))
    return out


def correlate(alerts: list[Alert], window: timedelta = timedelta(hours=48)) -> list[Incident]:
    """Group alerts into incidents (union of alerts sharing an attacker-side entity in time)."""
    items = sorted(alerts, key=lambda a: a.first_seen)
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    last_by_pivot: dict[tuple[str, str], int] = {}
    for i, a in enumerate(items):
        for p in _pivots(a):
            j = last_by_pivot.get(p)
            if j is not None and a.first_seen - items[j].last_seen <= window:
                parent[find(i)] = find(j)
            last_by_pivot[p] = i
    groups: dict[int, list[Alert]] = {}
    for i, a in enumerate(items):
        groups.setdefault(find(i), []).append(a)
    return [_incident(g) for g in groups.values()]


def _incident(group: list[Alert]) -> Incident:
    group.sort(key=lambda a: (a.first_seen, a.external_id))
    ents: dict[tuple[str, str, str], EntityRef] = {}
    for a in group:
        for e in a.entities:
            ents.setdefault((e.kind, e.name.lower(), e.role), e)
    sev = max((a.severity for a in group), key=lambda s: list(Severity).index(s))
    sources = _names(group, ("source computer",), "computer")
    attackers = _names(group, ("attacker",), "user")
    dcs = _names(group, ("domain controller",), "computer")
    title = _title(group, sources, dcs)
    story = []
    for a in group:
        story.append({"time": iso(a.first_seen), "phase": PHASE_TEXT[a.phase],
                      "alert_id": a.id, "external_id": a.external_id, "title": a.title,
                      "what": a.description})
    if sources or attackers:
        story.insert(0, {"phase": "Summary", "what": _summary(group, sources, attackers, dcs)})
    # The id names the incident by its first alert, so it stays the same while later alerts
    # join it (notifications already sent carry it).
    return Incident(
        id=incident_id(group[0].id), title=title, severity=sev,
        first_seen=group[0].first_seen, last_seen=max(a.last_seen for a in group),
        alerts=group, entities=list(ents.values()), story=story)


def incident_id(first_alert_id: str) -> str:
    """An incident's id: derived from the id of its first alert."""
    return hashlib.blake2b(f"incident|{first_alert_id}".encode(), digest_size=8).hexdigest()


def _names(group: list[Alert], roles: tuple[str, ...], kind: str) -> list[str]:
    seen: dict[str, None] = {}
    for a in group:
        for e in a.entities:
            if e.kind == kind and any(r in e.role for r in roles):
                seen.setdefault(e.name, None)
    return list(seen)


def _title(group: list[Alert], sources: list[str], dcs: list[str]) -> str:
    phases = {a.phase for a in group}
    if len(group) == 1:
        return group[0].title
    what = "Multi-stage attack" if len(phases) > 1 else f"{PHASE_TEXT[group[0].phase]} activity"
    src = f" from {', '.join(sources[:3])}" if sources else ""
    dst = f" against {', '.join(dcs[:3])}" if dcs else ""
    return f"{what}{src}{dst} ({len(group)} alerts)"


def _summary(group: list[Alert], sources: list[str], attackers: list[str],
             dcs: list[str]) -> str:
    steps = " → ".join(dict.fromkeys(PHASE_TEXT[a.phase] for a in group))
    parts = []
    if sources:
        parts.append(f"infiltrated computer(s): {', '.join(sources)}")
    if attackers:
        parts.append(f"identities used: {', '.join(attackers)}")
    if dcs:
        parts.append(f"domain controller(s) reached: {', '.join(dcs)}")
    return f"{steps}. " + "; ".join(parts) + "."
