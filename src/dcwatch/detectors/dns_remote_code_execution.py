"""Remote code execution attempt over DNS: MDI external ID 2036.

DNS messages crafted to exploit the Windows DNS server of a domain controller. The wire shows
what the DC's DNS server would parse: in messages too large for ordinary DNS (more than 4 KB,
which the decoder walks record by record) dcwatch flags
* SIG/RRSIG records far larger than any real signature (``max_sig_size``; an RSA-4096
  signature is 512 bytes) - the shape of CVE-2020-1350 (SIGRed): a response of close to 64 KB
  over TCP whose SIG record, once its (compressed) signer name is expanded, overflows the
  16-bit size the server allocates with; and
* records whose RDLENGTH runs past the end of a TCP-framed message (the declared lengths are
  inconsistent: the CVE-2018-8626 family MDI documents; TCP, so a capture's snap length
  cannot be the cause).
The victim is the DC's DNS server: the client of a flow that carried a crafted response (the
DC forwarded a query and the attacker's authoritative server answered) or the server of a flow
that carried a crafted query.
Sources: DNS over TCP/UDP 53 on the wire. MDI's exact signatures are not public (spec:
unverified); DNS service restarts (System 7031/7034) are not correlated yet.
Known false positives: none expected for the sizes; a patched DNS server makes it a failed
attempt (close as FP when no new service, process or DNS restart followed).
State: none.
"""

from __future__ import annotations

from typing import Any, ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import norm_ip
from dcwatch.detectors.base import Detector, refs
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity


class DnsRemoteCodeExecution(Detector):
    slug: ClassVar[str] = "dns-remote-code-execution"
    external_id: ClassVar[int] = 2036
    title: ClassVar[str] = "Remote code execution attempt over DNS"
    phase: ClassVar[Phase] = Phase.LATERAL_MOVEMENT
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1068", "T1210")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.DNS_QUERY})

    max_sig_size: ClassVar[int] = 16 * 1024  # bytes of one SIG/RRSIG record, signer expanded

    def _reasons(self, scan: Any, transport: str | None) -> list[str]:
        if not isinstance(scan, dict):
            return []
        out = []
        size = int(scan.get("sig_max_expanded") or 0)
        if size > self.max_sig_size:
            how = " with a compressed signer name" if scan.get("sig_signer_compressed") else ""
            over = " (past 65535: the size overflows 16 bits)" if size > 0xFFFF else ""
            out.append(f"a SIG record of {size} bytes{how}{over}")
        if scan.get("rdlength_overrun") and transport == "tcp":
            out.append(f"a record whose RDLENGTH ({scan.get('max_rdlength')}) runs past the "
                       "end of the message")
        return out

    def observe(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        transport = f.get("transport")
        resp = self._reasons(f.get("rr_scan"), transport)
        query = self._reasons(f.get("query_rr_scan"), transport)
        if not resp and not query:
            return []
        client, server = norm_ip(a.src_ip), norm_ip(a.dst_ip)
        if resp:  # the DC's DNS server asked (forwarding) and the answer was crafted
            victim, attacker, reasons, what = client, server, resp, "response"
            length = f.get("response_length")
        else:
            victim, attacker, reasons, what = server, client, query, "query"
            length = None
        vm = self.resolver.computer_for_ip(victim)
        am = self.resolver.computer_for_ip(attacker)
        vname = vm.host if vm else victim
        aname = am.host if am else attacker
        return [self.draft(
            key=f"{attacker}|{victim}",
            activities=[a],
            description=(f"Over DNS, {aname} tried to execute code remotely on {vname}: a DNS "
                         f"{what} over {str(transport).upper()} carried {'; '.join(reasons)}."),
            entities=refs(host_ref(aname, "attacker DNS host", attacker),
                          host_ref(vname, "target domain controller", victim)),
            evidence={"reasons": reasons, "message": what, "transport": transport,
                      "query": f.get("query"), "qtype": f.get("qtype_name") or f.get("qtype"),
                      "response_length": length,
                      "records": f.get("rr_scan") if resp else f.get("query_rr_scan")},
            require_dc=victim,
        )]
