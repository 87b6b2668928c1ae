"""The contract between the flow layer (IP/TCP/UDP) and the application analyzers.

The flow layer (``protocols/net``) reassembles each TCP direction and hands in-order bytes to one
``StreamAnalyzer`` per connection; UDP datagrams go to ``DatagramAnalyzer``s. Analyzers emit
``Activity`` objects through ``emit`` and report survivable oddities through ``weird`` (Zeek).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from dcwatch.model.activity import Account, Activity, ActivityKind, Origin


@dataclass(slots=True)
class FlowInfo:
    """One connection (or UDP 5-tuple). ``frame`` is the frame number of the packet being fed."""

    transport: str  # "tcp" | "udp"
    client_ip: str
    client_port: int
    server_ip: str
    server_port: int
    source: str  # capture file (archive members as ``archive.zip!member``) or ``live:IF``
    frame: int = 0
    ts: datetime | None = None  # time of the packet being fed
    context: FlowContext | None = None

    def origin(self, fmt: str = "pcap") -> Origin:
        """Origin of an activity decoded from the packet being fed."""
        return Origin(self.source, self.frame, fmt)

    def activity(self, kind: ActivityKind, frame: int, ts: datetime, protocol: str,
                 fields: dict[str, Any], *, actor: Account | None = None,
                 target: Account | None = None, status: int | None = None,
                 outcome: str | None = None) -> Activity:
        """An activity of this flow: client to server, recorded by the server (``host``).

        ``frame``/``ts`` are those of the packet that carried the exchange (the request's when
        it is emitted at the response). Positional construction: this runs once per activity
        of every analyzer that builds its activities here."""
        return Activity(ts, kind, Origin(self.source, frame, "pcap"), self.server_ip,
                        self.client_ip, self.client_port, None, self.server_ip,
                        self.server_port, None, actor, target, outcome, status, None, protocol,
                        fields)


@dataclass(slots=True)
class FlowContext:
    """State shared by all flows of one capture run (dynamic RPC ports, ticket owners...)."""

    # (server_ip, port) -> interface name learned from the endpoint mapper (EPM map replies)
    rpc_ports: dict[tuple[str, int], str] = field(default_factory=dict)
    # ticket fingerprint -> (client principal, realm): learned from AS-REP/TGS-REP in clear
    ticket_owners: dict[str, tuple[str, str]] = field(default_factory=dict)
    weirds: dict[str, int] = field(default_factory=dict)
    malformed: int = 0

    def weird(self, name: str) -> None:
        """Count a survivable oddity by snake_case name."""
        self.weirds[name] = self.weirds.get(name, 0) + 1


Emit = Callable[[Activity], None]


class StreamAnalyzer(Protocol):
    """Analyzer of one TCP connection; constructed as ``cls(flow, emit)``."""

    def data(self, from_client: bool, payload: bytes) -> None:
        """In-order reassembled bytes of one direction (``flow.frame``/``flow.ts`` are current)."""

    def gap(self, from_client: bool, nbytes: int) -> None:
        """``nbytes`` were lost in this direction: resynchronise or give up on the flow."""

    def close(self) -> None:
        """Connection ended (FIN/RST/idle/end of capture): flush pending state."""


class DatagramAnalyzer(Protocol):
    """Analyzer of UDP datagrams of one 5-tuple; constructed as ``cls(flow, emit)``."""

    def datagram(self, from_client: bool, payload: bytes) -> None:
        """One UDP payload."""

    def close(self) -> None:
        """Flow idle or capture ended."""
