"""Honeytoken authentication activity: MDI external ID 2014.

Any authentication, successful or failed, by an account (user or device) tagged as honeytoken
(``--honeytoken NAME``): decoys are never used, so every use is someone trying stolen or
guessed credentials.
Sources: Kerberos AS/TGS exchanges on the wire and events 4768/4769/4771; NTLM AUTHENTICATE on
the wire and event 4776 / 8004; LDAP binds; SMB session setups; logons 4624/4625 and Samba
authentication records. A honeytoken device also counts when it is the NTLM ``Workstation``.
One alert per honeytoken, updated with each new activity line; wire and log views of the same
logon fold into it.
Known false positive: the decoy's owner testing it, a script configured with it (exclude).
"""

from __future__ import annotations

from typing import ClassVar

from dcwatch.detectors._common import display, host_ref, rpc_source, rpc_target
from dcwatch.detectors._honeytoken import Honeytokens
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    ip_ref,
    refs,
    user_ref,
)
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind
_LABELS = {
    K.LOGON: "logged on", K.LOGON_FAILED: "failed to log on",
    K.KERBEROS_AS: "requested a Kerberos TGT", K.KERBEROS_PREAUTH_FAILED: "failed Kerberos "
    "pre-authentication", K.KERBEROS_TGS: "requested a Kerberos service ticket",
    K.NTLM_VALIDATION: "authenticated with NTLM", K.NTLM_AUTH: "authenticated with NTLM",
    K.LDAP_BIND: "bound to LDAP", K.SMB_SESSION: "opened an SMB session",
}
MAX_LINES = 50
KDC_ERR_PREAUTH_REQUIRED = 25  # RFC 4120 7.5.9
_Rec = tuple[str, str | None, str | None, str | None, str]  # what, ip, host, dc, outcome


class HoneytokenAuthentication(Detector):
    slug: ClassVar[str] = "honeytoken-authentication"
    external_id: ClassVar[int] = 2014
    title: ClassVar[str] = "Honeytoken authentication activity"
    phase: ClassVar[Phase] = Phase.CREDENTIAL_ACCESS
    severity: ClassVar[Severity] = Severity.MEDIUM
    mitre: ClassVar[tuple[str, ...]] = ("T1087", "T1087.002")
    handles: ClassVar[frozenset[str]] = frozenset(_LABELS)

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.honey = Honeytokens(self.resolver)
        self._lines: BoundedDict[dict[_Rec, None]] = BoundedDict(10_000)
        self._outcomes: BoundedDict[dict[str, int]] = BoundedDict(10_000)

    def observe(self, a: Activity) -> list[AlertDraft]:
        if not self.honey.active:
            return []
        if a.protocol == "samba" and a.kind in (K.LOGON, K.LOGON_FAILED) and (
                a.fields.get("service") == "Kerberos KDC"
                or str(a.fields.get("password_type") or "").upper().startswith("NTLM")):
            return []  # Samba writes the same logon as a Kerberos/NTLM activity too
        token = self.honey.account(a.actor)
        role = "account"
        if token is None and a.kind in (K.NTLM_VALIDATION, K.NTLM_AUTH, K.LOGON,
                                        K.LOGON_FAILED):
            token = self.honey.match(a.src_host or a.fields.get("workstation"))
            role = "device"
        if token is None:
            return []
        return [self._draft(a, token, role)]

    def _name(self, host: str | None) -> str | None:
        """A computer by name when the resolver knows the address by now."""
        m = self.resolver.computer_for_ip(host)
        return m.host if m else host

    def _draft(self, a: Activity, token: str, role: str) -> AlertDraft:
        wire = a.protocol not in (None, "event")
        ip, ws = rpc_source(a, self.resolver) if wire else (a.src_ip, a.src_host)
        dc = rpc_target(a, self.resolver) if wire else a.host
        what = _LABELS[a.kind]
        if a.kind is K.KERBEROS_TGS:
            svc = a.fields.get("sname") or a.fields.get("service") or \
                (a.target.name if a.target else None)
            what += f" for {svc}" if svc else ""
        elif a.kind is K.LOGON and a.fields.get("logon_type") is not None:
            what += f" (logon type {a.fields['logon_type']})"
        if role == "device":
            what = f"was the workstation of an NTLM logon by {a.actor or 'an unknown user'}"
        outcome = a.outcome or "unknown outcome"
        if a.kind is K.KERBEROS_AS and a.status == KDC_ERR_PREAUTH_REQUIRED:
            outcome = "pre-authentication required: the client's usual first try"
        records = self._lines.setdefault(token, {})
        rec = (what, ip, ws, dc, outcome)
        new = rec not in records and len(records) < MAX_LINES
        if new:
            records[rec] = None
        counts = self._outcomes.setdefault(token, {})
        counts[a.outcome or "unknown"] = counts.get(a.outcome or "unknown", 0) + 1
        lines: dict[str, None] = {}
        for w, rip, rws, rdc, out in records:  # rendered now: names learned since then
            src = display(rws) if rws else self._name(rip)
            where = f" from {display(src)}" if src else ""
            via = f" via {display(self._name(rdc))}" if rdc else ""
            lines[f"{token} {w}{where}{via} ({out})"] = None
        dom = ((a.actor.domain if a.actor and role == "account" else None) or "")
        dom = dom.split(".", 1)[0].upper()
        ht = f"{dom}\\{token}" if dom and not token.endswith("$") else token.rstrip("$")
        dc_name = self._name(dc)
        return self.draft(
            key=token,
            activities=[a],
            description=f"Activity by honeytoken {token}:\n" + "\n".join(lines),
            entities=refs(EntityRef("computer" if role == "device" or token.endswith("$")
                                    else "user", ht, "honeytoken",
                                    sid=a.actor.sid if a.actor and role == "account" else None),
                          user_ref(a.actor, "account used") if role == "device" else None,
                          host_ref(ws or self._name(ip), "source computer", ip),
                          ip_ref(ip, "source IP") if ws or self._name(ip) != ip else None,
                          host_ref(dc_name, "domain controller"),
                          EntityRef("service", str(a.fields.get("sname")), "service requested")
                          if a.kind is K.KERBEROS_TGS and a.fields.get("sname") else None),
            evidence={k: v for k, v in (
                ("honeytoken", token), ("honeytoken_kind", role),
                ("activities", [{"time": a.ts.isoformat(), "activity": what,
                                 "protocol": a.protocol or "event",
                                 "event_id": a.event_id, "source_ip": ip,
                                 "source_computer": display(ws) if ws else None,
                                 "domain_controller": display(dc_name), "outcome": outcome}]
                 if new else None),
                ("outcomes", dict(counts))) if v},
        )
