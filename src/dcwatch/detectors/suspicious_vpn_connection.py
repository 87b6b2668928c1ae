"""Suspicious VPN connection: MDI external ID 2025.

Learns, per user over a sliding ``profile_window`` (30 days), the places the user connects to
the VPN from and the computers used, and alerts when a connection comes from a place the profile
does not hold. A user is judged only once the profile holds ``min_connections`` connections in
the window and, in live mode, ``learning_period`` has passed since the user's first connection
(MDI: 30 days and at least 5 connections in the last 30 days, per user).
Sources: ``radius.accounting`` (RFC 2866 Accounting-Request from the VPN server to NPS):
a connection is a Start, or the first record of a session id never seen (capture started
mid-session). The place is the client's public address (Calling-Station-Id, else
Tunnel-Client-Endpoint) reduced to its network (``/24`` IPv4, ``/48`` IPv6): dcwatch ships no
geolocation database, so a network stands for a location; the computer is the one the inner
(Framed-IP) address resolves to, when other traffic revealed it.
Known false positives: travel, relocation, a new device, a home ISP renumbering (exclude the
user or raise ``min_connections``).
State: per user at most ``max_per_user`` recent connections (~150 B each) in a BoundedDict.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import acct_key, acct_text
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

START = 1  # RFC 2866 5.1 Acct-Status-Type Start


@dataclass(slots=True)
class _Conn:
    ts: datetime
    address: str
    location: str
    computer: str | None


def location_of(address: str) -> str:
    """The network standing for a location: /24 for IPv4, /48 for IPv6, else the value."""
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip().lower()
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


class SuspiciousVpnConnection(Detector):
    slug: ClassVar[str] = "suspicious-vpn-connection"
    external_id: ClassVar[int] = 2025
    title: ClassVar[str] = "Suspicious VPN connection"
    phase: ClassVar[Phase] = Phase.OTHER
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1133",)
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.RADIUS_ACCOUNTING})
    learning_period: ClassVar[timedelta | None] = timedelta(days=30)

    profile_window: ClassVar[timedelta] = timedelta(days=30)
    min_connections: ClassVar[int] = 5  # connections in the window before a user is judged
    max_per_user: ClassVar[int] = 500

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._conns: BoundedDict[list[_Conn]] = BoundedDict(100_000)
        self._sessions: BoundedDict[bool] = BoundedDict(200_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        if a.actor is None or not a.actor.name:
            return []
        sid = f.get("session_id")
        skey = f"{a.src_ip}|{sid}" if sid else None
        seen = skey is not None and skey in self._sessions
        if skey is not None:
            self._sessions[skey] = True
        if f.get("status_type") != START and (seen or skey is None):
            return []  # Interim/Stop of a session already counted
        address = f.get("calling_station_id") or f.get("tunnel_client_endpoint")
        if not address:
            return []
        user = acct_key(a.actor)
        m = self.resolver.computer_for_ip(f.get("framed_ip"))
        conn = _Conn(a.ts, str(address), location_of(str(address)), m.host if m else None)
        history = [c for c in self._conns.get(user, []) if a.ts - c.ts <= self.profile_window]
        history.append(conn)
        self._conns[user] = history[-self.max_per_user:]
        learning = self.learning(f"user:{user}", a.ts)
        known = history[:-1]
        if learning or len(known) < self.min_connections:
            return []
        if any(c.location == conn.location for c in known):
            return []
        locations = list(dict.fromkeys(c.location for c in history))
        computers = {c.computer for c in history if c.computer} or \
            {c.address for c in history}
        who = acct_text(a.actor)
        return [self.draft(
            key=user,
            activities=[a],
            description=(f"{who} used {len(computers)} computers in {len(locations)} "
                         f"locations to connect to the VPN; the connection from {address} "
                         f"({conn.location}) is from a location not seen in the "
                         f"{len(known)} connections of the last "
                         f"{self.profile_window.days} days."),
            entities=refs(user_ref(a.actor, "user"),
                          EntityRef("ip", str(address), "external address", ip=str(address)),
                          host_ref(conn.computer, "computer", f.get("framed_ip")),
                          host_ref(f.get("nas_identifier") or a.src_ip, "VPN server",
                                   a.src_ip)),
            evidence={"user": who, "external_address": address, "location": conn.location,
                      "framed_ip": f.get("framed_ip"), "computer": conn.computer,
                      "learned_locations": locations[:-1], "connections_in_profile": len(known),
                      "computers": sorted(computers), "vpn_server": f.get("nas_identifier")
                      or a.src_ip, "session_id": sid},
        )]
