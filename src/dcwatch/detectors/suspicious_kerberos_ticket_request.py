"""Suspected suspicious Kerberos ticket request: MDI external ID 2418.

MDI documents no logic ("abnormal Kerberos ticket requests"); its MITRE mapping (T1557,
adversary-in-the-middle) points at Kerberos relay. The spec marks the logic **unverified** and
this detector implements only its first, observable example, conservatively: a service ticket
the KDC issued (wire TGS-REP) to one computer reaches a domain controller in an AP-REQ (SMB,
LDAP, DCE/RPC) from another computer within ``relay_window`` of its issue. A relay forwards the
victim's AP-REQ at once, so the window is short; a ticket replayed later is pass-the-ticket
(2018), which also reports relayed tickets (any server, any delay): both may raise for one
relay. The second example the spec gives (ticket options no Windows client sets) is not
implemented: no documented list of such options exists to check against.
Not seen: relays whose victim and attacker are one computer (KrbRelayUp, local), and tickets
whose issue the sensor did not see (event 4769 carries no ticket fingerprint).
Known false positives: NAT/VPN pools (``nat_ips``, shared with 2018's reasoning), DHCP moves,
delegation servers (a DC presenting a user's ticket is never judged).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import (
    TicketLedger,
    acct_key,
    acct_text,
    is_tgt,
    norm_ip,
    same_computer,
    target_dc,
    where,
    wire,
)
from dcwatch.detectors.base import DetectionContext, Detector, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

K = ActivityKind


class SuspiciousKerberosTicketRequest(Detector):
    slug: ClassVar[str] = "suspicious-kerberos-ticket-request"
    external_id: ClassVar[int] = 2418
    title: ClassVar[str] = "Suspected suspicious Kerberos ticket request"
    phase: ClassVar[Phase] = Phase.CREDENTIAL_ACCESS
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1557", "T1557.001")
    handles: ClassVar[frozenset[str]] = frozenset({K.KERBEROS_TGS, K.KERBEROS_AP})

    relay_window: ClassVar[timedelta] = timedelta(minutes=2)
    nat_ips: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.ledger = TicketLedger()

    def observe(self, a: Activity) -> list[AlertDraft]:
        if not wire(a):
            return []
        if a.kind is K.KERBEROS_TGS:
            self.ledger.observe(a)
            return []
        fp = a.fields.get("ticket_fingerprint")
        issue = self.ledger.get(fp)
        ip = norm_ip(a.src_ip)
        if issue is None or is_tgt(issue.service) or not issue.ip or not ip:
            return []
        if not timedelta(0) <= a.ts - issue.ts <= self.relay_window:
            return []
        if same_computer(self.resolver, issue.ip, ip) or \
                issue.ip in self.nat_ips or ip in self.nat_ips:
            return []
        if self.resolver.dc_status(ip)[0] or self.resolver.dc_status(issue.ip)[0]:
            return []  # a DC presenting a user's ticket: delegation/replication
        server = target_dc(a, self.resolver)
        if not self.resolver.dc_status(a.dst_ip or server)[0]:
            return []  # only tickets relayed to a domain controller (spec)
        req_host, relay_host = self._name(issue.ip), self._name(ip)
        service = a.fields.get("service") or issue.service
        proto = a.fields.get("app_protocol") or a.protocol
        delay = (a.ts - issue.ts).total_seconds()
        secs = int(delay)
        later = "less than a second later" if delay < 1 else \
            f"{secs} second{'s' if secs != 1 else ''} later"
        user = acct_text(issue.account)
        return [self.draft(
            key=f"{acct_key(issue.account)}|{issue.ip}|{ip}",
            activities=[a],
            description=(f"A Kerberos service ticket for {service} requested by {user} from "
                         f"{where(issue.ip, req_host)} was presented to {server} over {proto} "
                         f"from {where(ip, relay_host)} {later} (Kerberos relay)."),
            entities=refs(user_ref(issue.account, "account"),
                          host_ref(req_host, "requesting computer", issue.ip),
                          host_ref(relay_host, "source computer", ip),
                          host_ref(server, "domain controller")),
            evidence={"ticket_fingerprint": fp, "service": service, "requested_from": issue.ip,
                      "requested_at": issue.ts.isoformat(), "presented_from": ip,
                      "presented_over": proto, "delay_seconds": round(delay, 3),
                      "domain_controller": server},
        )]

    def _name(self, ip: str | None) -> str | None:
        m = self.resolver.computer_for_ip(ip)
        return m.host if m else None
