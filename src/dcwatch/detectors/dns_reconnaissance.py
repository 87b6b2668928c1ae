"""Network-mapping reconnaissance (DNS): MDI external ID 2007.

A computer that is not a DNS server (not a DC, not a secondary learned during the learning
period) asks a DC for a zone transfer (AXFR 252 / IXFR 251). Refused transfers count too: the
request is the reconnaissance. Sources: DNS over UDP/TCP 53 on the wire.
Learning: 8 days from the start of DC monitoring (live mode): sources doing transfers then are
taken for secondary DNS servers and never alert. The "excessive suspicious queries" volume
branch needs a per-source baseline: not implemented yet.
Known false positives: real DNS servers (resolution!), security scanners (exclude).
State: learned transfer sources (BoundedDict, ~100 B each).
"""

from __future__ import annotations

from datetime import timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import norm_ip, source, target_dc, where
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, refs
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

ZONE_TRANSFER = {252: "AXFR", 251: "IXFR"}  # RFC 5936, RFC 1995


class DnsReconnaissance(Detector):
    slug: ClassVar[str] = "dns-reconnaissance"
    external_id: ClassVar[int] = 2007
    title: ClassVar[str] = "Network-mapping reconnaissance (DNS)"
    phase: ClassVar[Phase] = Phase.RECONNAISSANCE
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1087", "T1046", "T1018")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.DNS_QUERY})
    learning_period: ClassVar[timedelta | None] = timedelta(days=8)

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._secondaries: BoundedDict[bool] = BoundedDict(10_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        qtype = a.fields.get("qtype")
        if qtype not in ZONE_TRANSFER or a.fields.get("response_only"):
            return []
        ip, host = source(a, self.resolver)
        if not ip or ip == norm_ip(a.dst_ip) or self.resolver.dc_status(ip)[0]:
            return []
        if self.learning(a.host or "dc", a.ts):
            self._secondaries[ip] = True
            return []
        if ip in self._secondaries:
            return []
        dc = target_dc(a, self.resolver)
        zone = a.fields.get("query")
        rcode = a.fields.get("rcode_name") or a.fields.get("rcode")
        refused = rcode not in (None, 0, "NOERROR") or not a.fields.get("answers")
        return [self.draft(
            key=ip,
            activities=[a],
            description=(f"{where(ip, host)}, which is not a DNS server, performed suspicious "
                         f"DNS activity against {dc} (query {zone}, type "
                         f"{ZONE_TRANSFER[qtype]}, answer {rcode})."),
            entities=refs(host_ref(host, "source computer", ip),
                          host_ref(dc, "target domain controller")),
            evidence={"queries": [{"name": zone, "type": ZONE_TRANSFER[qtype],
                                   "response": rcode, "answers": a.fields.get("answers")}],
                      "outcome": "failure" if refused else "success",
                      "source_ip": ip, "source_computer": host},
            require_dc=a.dst_ip or a.host,
        )]
