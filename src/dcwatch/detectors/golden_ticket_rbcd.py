"""Suspected Golden Ticket usage (ticket anomaly using RBCD): MDI external ID 2040.

An account with an SPN is given resource-based constrained delegation rights over the KRBTGT
account, then asks the KDC, through S4U2self + S4U2proxy, for a ticket *to krbtgt* on behalf
of another user: the result is a TGT for that user - a golden ticket the KDC mints itself.
Either step alone is high-signal (spec: unverified as MDI's exact rule); both feed one alert
per domain, the second updating the first:
* a directory write setting ``msDS-AllowedToActOnBehalfOfOtherIdentity`` on the krbtgt object
  (5136, LDAP modify on the wire, Samba dsdbChange);
* a TGS-REQ with the cname-in-addl-tkt option (MS-SFU 2.2.5, S4U2proxy) and an additional
  ticket whose requested service is ``krbtgt/<REALM>``.
Sources: wire Kerberos (port 88), directory change events.
Known false positives: federation services that mint tickets (MDI) - none configures RBCD on
krbtgt in a healthy domain.
State: the bound identity of LDAP connections (``LdapBinds``).
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._common import LdapBinds, actor_text, ds_change, host_ref
from dcwatch.detectors._netcommon import acct_text, is_tgt, source, target_dc, where
from dcwatch.detectors.base import DetectionContext, Detector, refs, user_ref
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind
RBCD_ATTR = "msDS-AllowedToActOnBehalfOfOtherIdentity"


class GoldenTicketRbcd(Detector):
    slug: ClassVar[str] = "golden-ticket-rbcd"
    external_id: ClassVar[int] = 2040
    title: ClassVar[str] = "Suspected Golden Ticket usage (ticket anomaly using RBCD)"
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1558", "T1558.001")
    handles: ClassVar[frozenset[str]] = frozenset({K.KERBEROS_TGS, K.DS_MODIFY, K.DS_CREATE,
                                                   K.LDAP_BIND})

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._binds = self.shared("ldap-binds", LdapBinds)

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is K.LDAP_BIND:
            self._binds.observe(a)
            return []
        if a.kind is K.KERBEROS_TGS:
            return self._s4u2proxy(a)
        c = ds_change(a, self.resolver, self._binds)
        if c is None or not c.adds(RBCD_ATTR) or (c.cn or "").lower() != "krbtgt":
            return []
        domain = self._domain(c.dn)
        return [self.draft(
            key=domain,
            activities=[a],
            description=(f"{actor_text(c.actor)} gave resource-based constrained delegation "
                         f"rights over the KRBTGT account of {domain} ({RBCD_ATTR} set on "
                         f"{c.dn}): accounts allowed there can obtain a TGT for any user."),
            entities=refs(user_ref(c.actor, "actor"),
                          EntityRef("user", "krbtgt", "modified account"),
                          host_ref(c.src_host, "source computer", c.src_ip),
                          host_ref(c.dc, "domain controller")),
            evidence={"step": "rbcd_on_krbtgt", "object": c.dn, "attribute": RBCD_ATTR,
                      "values": c.values.get(RBCD_ATTR.lower(), []), "source": c.source},
        )]

    @staticmethod
    def _domain(dn: str) -> str:
        dcs = [p.split("=", 1)[1] for p in dn.split(",") if p.strip().upper().startswith("DC=")]
        return ".".join(dcs).lower() or "the domain"

    def _s4u2proxy(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        extra = f.get("additional_tickets") or []
        if not extra or "constrained-delegation" not in (f.get("kdc_options") or []) or \
                not is_tgt(f.get("sname")) or a.outcome == "failure":
            return []
        ip, host = source(a, self.resolver)
        dc = target_dc(a, self.resolver)
        owner = extra[0].get("owner")
        victim = Account(owner.split("@", 1)[0], owner.split("@", 1)[-1]) if owner else None
        realm = str(f.get("realm") or "the domain").lower()
        got = "obtained" if a.outcome == "success" else "requested"
        return [self.draft(
            key=realm,
            activities=[a],
            description=(f"{acct_text(a.actor)} on {where(ip, host)} {got} a ticket to "
                         f"{f.get('sname')} from {dc} on behalf of "
                         f"{acct_text(victim, 'another user')} through S4U2proxy "
                         "(resource-based constrained delegation on KRBTGT): a golden ticket."),
            entities=refs(user_ref(a.actor, "account with SPN"),
                          user_ref(victim, "impersonated user"),
                          host_ref(host, "source computer", ip),
                          host_ref(dc, "domain controller")),
            evidence={"step": "s4u2proxy_to_krbtgt", "service": f.get("sname"),
                      "impersonated": owner, "additional_ticket_service": extra[0].get("sname"),
                      "outcome": a.outcome, "source_ip": ip},
            require_dc=a.dst_ip or a.host,
        )]
