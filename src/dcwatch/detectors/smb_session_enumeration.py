"""User and IP address reconnaissance (SMB): MDI external ID 2012.

Someone asks a DC for its SMB session table (MS-SRVS NetrSessionEnum, SRVSVC opnum 12) to learn
where users are logged on. Any such call against a DC alerts, whether it succeeded or not (a
refusal means a failed attempt). When the response is readable the alert lists every exposed
account with the client name/IP it was using at that moment.
Sources: DCE/RPC over ``\\PIPE\\srvsvc`` on the wire (request level, response sessions, status).
Visibility gap: SMB3-encrypted sessions hide the call entirely (nothing to alert on).
Known false positives: inventory tools and security scanners (exclude the source computer).
State: none besides the open alert (the engine updates it per source) and, while the data
cannot tell whether the server is a DC, up to 1000 held drafts (``DcGate``).
"""

from __future__ import annotations

from typing import Any, ClassVar

from dcwatch.detectors._common import host_ref
from dcwatch.detectors._netcommon import DcGate, acct_text, source, target_dc, where
from dcwatch.detectors.base import DetectionContext, Detector, refs, user_ref
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

NETR_SESSION_ENUM = 12  # MS-SRVS 3.1.4.5


def _client(value: Any) -> str | None:
    """SESSION_INFO cname: ``\\\\10.0.0.5`` or ``\\\\WS1`` -> ``10.0.0.5`` / ``WS1``."""
    if not value:
        return None
    return str(value).lstrip("\\").strip() or None


class SmbSessionEnumeration(Detector):
    slug: ClassVar[str] = "smb-session-enumeration"
    external_id: ClassVar[int] = 2012
    title: ClassVar[str] = "User and IP address reconnaissance (SMB)"
    phase: ClassVar[Phase] = Phase.RECONNAISSANCE
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1087", "T1049", "T1087.002")
    handles: ClassVar[frozenset[str]] = frozenset({ActivityKind.RPC_CALL})

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.gate = DcGate(self.resolver)

    def observe(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        if f.get("interface") != "srvsvc" or f.get("opnum") != NETR_SESSION_ENUM:
            return []
        if f.get("etw") or (a.src_ip and a.src_ip == a.dst_ip):
            return []  # the DC asking itself (or the ETW view of a local call)
        ip, host = source(a, self.resolver)
        if ip and self.resolver.dc_status(ip)[0]:
            return []  # DC-to-DC management traffic
        dc = target_dc(a, self.resolver)
        fa = f.get("args")
        args: dict[str, Any] = fa if isinstance(fa, dict) else {}
        sessions = args.get("sessions") or []
        exposed = [{"account": s.get("user"), "client": _client(s.get("client"))}
                   for s in sessions if isinstance(s, dict) and (s.get("user") or
                                                                 s.get("client"))]
        success = a.outcome == "success" or (a.status == 0 and not f.get("fault"))
        who = acct_text(a.actor)
        src = where(ip, host)
        accounts = {e["account"] for e in exposed if e["account"]}
        if success and accounts:
            names = ", ".join(sorted({f"{e['account']} ({e['client']})" if e["client"]
                                      else str(e["account"]) for e in exposed if e["account"]}))
            n = len(accounts)
            desc = (f"{who} on {src} enumerated SMB sessions on {dc}, retrieving the IP "
                    f"addresses of {n} account{'s' if n != 1 else ''}: {names}.")
        elif success and exposed:  # info levels 0/10 without user names: the clients only
            clients = ", ".join(sorted({str(e["client"]) for e in exposed if e["client"]}))
            desc = (f"{who} on {src} enumerated SMB sessions on {dc}, retrieving the addresses "
                    f"of {len(exposed)} session(s) ({clients}) but not who holds them.")
        elif success:
            desc = (f"{who} on {src} enumerated SMB sessions on {dc} (the response was not "
                    f"readable, so the exposed accounts are unknown).")
        else:
            desc = (f"{who} on {src} tried to enumerate SMB sessions on {dc} without success; "
                    f"nothing was exposed.")
        ents = refs(user_ref(a.actor, "attacker"), host_ref(host, "source computer", ip),
                    host_ref(dc, "target domain controller", a.dst_ip))
        ents += [EntityRef("user", e["account"], "exposed account") for e in exposed
                 if e["account"]]
        draft = self.draft(
            key=f"{(ip or host or '?').lower()}|{(str(a.actor) if a.actor else '').lower()}",
            activities=[a], description=desc, entities=ents,
            evidence={"source_ip": ip, "source_computer": host, "domain_controller": dc,
                      "info_level": args.get("level"), "status": a.status,
                      "outcome": "success" if success else "failure",
                      "exposed_accounts": exposed},
            require_dc=a.dst_ip or a.host,
        )
        return self.gate.hold(a.dst_ip or a.host or "", draft)

    def finish(self) -> list[AlertDraft]:
        return self.gate.release()
