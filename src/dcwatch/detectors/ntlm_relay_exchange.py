"""Suspected NTLM relay attack (Exchange account): MDI external ID 2037.

An Exchange server's computer account authenticates with NTLM from a computer that is not that
Exchange server: its NTLM authentication was relayed (PrivExchange, ADV190007: Exchange is made
to authenticate to an attacker's HTTP server, which relays it to the DC over LDAP or SMB).
Exchange servers: the computers in ``exchange_servers`` (configuration) and machine accounts
tagged sensitive (``--sensitive EXCHANGE$``; MDI auto-tags Exchange servers as sensitive).
The source "is not that server" when it resolves to another computer, or when the Exchange
server's own addresses are known (``exchange_addresses``, or learned by the resolver) and the
source is none of them; an unresolved source of an Exchange server with no known address is
not judged (resolution error is MDI's documented false positive).
Sources: ``ntlm.auth`` on the wire (NTLMSSP AUTHENTICATE in SMB/LDAP/RPC/HTTP), 4624 with
the NTLM package, 4776 (workstation only: not judged without a source address).
Severity: medium; low when NTLMv2 with NEGOTIATE_SIGN was used (spec section 8).
State: none beyond configuration.
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import acct_key, acct_text, norm_ip, target_dc, where
from dcwatch.detectors.base import Detector, refs, user_ref
from dcwatch.entities.resolver import short
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity


class NtlmRelayExchange(Detector):
    slug: ClassVar[str] = "ntlm-relay-exchange"
    external_id: ClassVar[int] = 2037
    title: ClassVar[str] = "Suspected NTLM relay attack (Exchange account)"
    phase: ClassVar[Phase] = Phase.LATERAL_MOVEMENT
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1068", "T1210", "T1557", "T1557.001")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.NTLM_AUTH, ActivityKind.LOGON})

    exchange_servers: ClassVar[tuple[str, ...]] = ()  # computer names (EXCH01 or EXCH01$)
    exchange_addresses: ClassVar[dict[str, list[str]]] = {}  # computer name -> its IPs

    def _exchange(self, acct: Account | None) -> str | None:
        """The Exchange server (short upper-case name) an account is the machine account of."""
        if acct is None or not acct.is_machine:
            return None
        name = acct_key(acct).rstrip("$").upper()
        configured = {s.rstrip("$").split(".")[0].upper() for s in self.exchange_servers}
        if name in configured or self.resolver.sensitive_account(acct) == "tagged sensitive":
            return name
        return None

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is ActivityKind.LOGON and (
                str(a.fields.get("auth_package") or "").upper() != "NTLM"):
            return []
        if a.outcome == "failure":
            return []
        server = self._exchange(a.actor)
        ip = norm_ip(a.src_ip)
        if server is None or not ip or ip.startswith(("127.", "::1")):
            return []
        def is_server(host: str | None) -> bool:
            s = short(host)
            return bool(s) and s.upper() == server  # type: ignore[union-attr]

        m = self.resolver.computer_for_ip(ip)
        if m is not None and is_server(m.host):
            return []
        known = {x for x in (norm_ip(x) for k, v in self.exchange_addresses.items()
                             if k.rstrip("$").split(".")[0].upper() == server for x in v) if x}
        known |= {i for i, mm in self.resolver.ip_map.items() if is_server(mm.host)}
        if ip in known:
            return []
        if m is None and not known:
            return []  # nothing tells where the Exchange server is: not judged
        src_host = short(m.host) if m else None
        version = a.fields.get("ntlm_version") or a.fields.get("lm_package")
        flags = a.fields.get("flags") or []
        signed = str(version or "").lower() in ("v2", "ntlm v2") and "NEGOTIATE_SIGN" in flags
        dc = target_dc(a, self.resolver)
        why = f"it resolves to {src_host}" if src_host else \
            f"{server} is known at {', '.join(sorted(known))}"
        return [self.draft(
            key=f"{server}|{ip}",
            activities=[a],
            description=(f"{acct_text(a.actor)}, the computer account of Exchange server "
                         f"{server}, authenticated with NTLM to {dc} from "
                         f"{where(ip, src_host)}, which is not {server} ({why}): the "
                         "authentication may have been relayed."),
            entities=refs(user_ref(a.actor, "Exchange account"),
                          host_ref(src_host, "source computer", ip),
                          host_ref(dc, "target domain controller")),
            evidence={"exchange_server": server, "source_ip": ip, "source_computer": src_host,
                      "ntlm_version": version, "signing": "NEGOTIATE_SIGN" in flags,
                      "via": a.fields.get("via"), "workstation": a.fields.get("workstation")},
            severity=Severity.LOW if signed else None,
        )]
