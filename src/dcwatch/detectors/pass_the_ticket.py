"""Suspected identity theft (pass-the-ticket): MDI external ID 2018.

A Kerberos ticket issued to one computer is presented from another. The ticket is recognised by
the fingerprint of its cipher (``ticket_fingerprint`` when the KDC issues it in an AS-REP or
TGS-REP; ``used_ticket_fingerprint`` when a TGT comes back in a TGS-REQ; ``ticket_fingerprint``
of an AP-REQ for a service ticket). The alert lists what the stolen ticket reached: the services
asked for with a stolen TGT, and the servers/services where those service tickets (or a stolen
service ticket) were presented.
"Another computer" means another IP address that does not resolve to the same computer name:
the same IP with another source port is one computer. Threshold Low drops the NAT/VPN filter
(``nat_ips``: addresses of NAT gateways/VPN pools whose clients share one IP are never
trusted as a ticket's origin).
Known false positives: NAT/VPN/VDI pools, RDP Remote Credential Guard, delegation servers
forwarding users' tickets (exclude them), DHCP address changes between issue and use.
State: tickets issued (BoundedDict, 50k) + tickets derived from stolen ones: ~250 bytes per
ticket, about 12 MB for 10k accounts with 5 live tickets each.
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import (
    Issue,
    TicketLedger,
    acct_key,
    acct_text,
    is_tgt,
    norm_ip,
    same_computer,
    target_dc,
    wire,
)
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    refs,
    user_ref,
)
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind


class PassTheTicket(Detector):
    slug: ClassVar[str] = "pass-the-ticket"
    external_id: ClassVar[int] = 2018
    title: ClassVar[str] = "Suspected identity theft (pass-the-ticket)"
    phase: ClassVar[Phase] = Phase.LATERAL_MOVEMENT
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1550", "T1550.003")
    handles: ClassVar[frozenset[str]] = frozenset({K.KERBEROS_AS, K.KERBEROS_TGS, K.KERBEROS_AP})

    ticket_lifetime: ClassVar[timedelta] = timedelta(hours=10)  # MaxTicketAge: state TTL
    nat_ips: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.ledger = TicketLedger()
        # fingerprint of a service ticket obtained with a stolen TGT -> alert key
        self._derived: BoundedDict[str] = BoundedDict(50_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        if not wire(a):
            return []
        out: list[AlertDraft] = []
        if a.kind is K.KERBEROS_AP:
            return self._ap(a)
        used = a.fields.get("used_ticket_fingerprint")
        if a.kind is K.KERBEROS_TGS and used:
            issue = self.ledger.get(used)
            if issue is not None and self._moved(issue, a):
                out.append(self._alert(a, issue, used, via="TGS-REQ"))
        issued = self.ledger.observe(a)
        if issued is not None and issued.via_tgt:
            origin = self.ledger.get(issued.via_tgt)
            if origin is not None and self._moved(origin, a):
                self._derived[a.fields["ticket_fingerprint"]] = self._key(origin, a)
        return out

    def _ap(self, a: Activity) -> list[AlertDraft]:
        fp = a.fields.get("ticket_fingerprint")
        if not fp:
            return []
        if fp in self._derived:  # a service ticket got with a stolen TGT reaches a server
            issue = self.ledger.get(fp)
            via_tgt = issue.via_tgt if issue else None
            origin = self.ledger.get(via_tgt) if via_tgt else None
            if origin is not None:
                return [self._alert(a, origin, via_tgt or fp, via="AP-REQ")]
            return []
        issue = self.ledger.get(fp)
        if issue is not None and not is_tgt(issue.service) and self._moved(issue, a):
            return [self._alert(a, issue, fp, via="AP-REQ")]
        return []

    def _moved(self, issue: Issue, a: Activity) -> bool:
        ip = norm_ip(a.src_ip)
        if not issue.ip or not ip or a.ts - issue.ts > self.ticket_lifetime:
            return False
        if same_computer(self.resolver, issue.ip, ip):
            return False
        if self.threshold != "low" and (issue.ip in self.nat_ips or ip in self.nat_ips):
            return False
        # a DC presenting a user's ticket is delegation / replication, not theft
        return not (self.resolver.dc_status(ip)[0] or self.resolver.dc_status(issue.ip)[0])

    def _key(self, issue: Issue, a: Activity) -> str:
        return f"{acct_key(issue.account)}|{issue.ip}|{norm_ip(a.src_ip)}"

    def _name(self, ip: str | None) -> str | None:
        m = self.resolver.computer_for_ip(ip)
        return m.host if m else None

    def _alert(self, a: Activity, issue: Issue, fp: str, via: str) -> AlertDraft:
        to_ip = norm_ip(a.src_ip)
        from_host, to_host = self._name(issue.ip), self._name(to_ip)
        server = target_dc(a, self.resolver)
        service = a.fields.get("sname") or a.fields.get("service")
        resource = f"{service} on {server}" if service else str(server)
        user = acct_text(issue.account)
        kind = "TGT" if is_tgt(issue.service) else f"service ticket for {issue.service}"
        return self.draft(
            key=self._key(issue, a),
            activities=[a],
            description=(f"Kerberos tickets of {user} were taken from {_at(from_host, issue.ip)}, "
                         f"moved to {_at(to_host, to_ip)} and used there to access {resource}."),
            entities=refs(user_ref(issue.account, "victim"),
                          host_ref(from_host, "ticket source computer", issue.ip),
                          host_ref(to_host, "source computer", to_ip),
                          EntityRef("service", resource, "accessed resource"),
                          host_ref(server, "accessed server")),
            evidence={"ticket_fingerprint": fp, "ticket": kind,
                      "issued_to_ip": issue.ip, "issued_to_computer": from_host,
                      "issued_at": issue.ts.isoformat(), "used_from_ip": to_ip,
                      "used_from_computer": to_host, "used_via": via,
                      "accessed_resources": [resource]},
        )


def _at(host: str | None, ip: str | None) -> str:
    return f"{host} ({ip})" if host and ip else (host or ip or "an unknown computer")
