"""Suspicious Kerberos delegation attempt by a newly created computer: MDI external ID 2422.

A computer account created moments ago (often by an ordinary user through
ms-DS-MachineAccountQuota) is given delegation or performs Kerberos delegation itself: the
RBCD / KrbRelayUp chain (create a computer, let a victim trust it, S4U2self + S4U2proxy to get
a ticket as an administrator).
Sources: creation from 4741, LDAP AddRequest on the wire or Samba dsdbChange (a new object
whose sAMAccountName ends with ``$``); then, within ``window``:
* S4U by that computer: TGS-REQ with PA-FOR-USER (S4U2self) or cname-in-addl-tkt (S4U2proxy)
  on the wire, 4769 with Transited Services (S4U2proxy);
* delegation granted to it: TRUSTED_FOR_DELEGATION / TRUSTED_TO_AUTH_FOR_DELEGATION or
  msDS-AllowedToDelegateTo set on it (4742, 5136, LDAP), or its SID written into another
  object's msDS-AllowedToActOnBehalfOfOtherIdentity (5136: RBCD towards it).
Known false positive: new servers intentionally configured for delegation (exclude them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from dcwatch.detectors._common import (
    LdapBinds,
    NetworkLogons,
    actor_text,
    display,
    ds_change,
    host_ref,
    named,
    rpc_source,
    rpc_target,
)
from dcwatch.detectors._netcommon import acct_key
from dcwatch.detectors.base import BoundedDict, DetectionContext, Detector, ip_ref, refs, user_ref
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

K = ActivityKind
TRUSTED_FOR_DELEGATION = 0x80000  # MS-ADTS 2.2.16 userAccountControl
TRUSTED_TO_AUTH_FOR_DELEGATION = 0x1000000
DELEGATION_UAC = TRUSTED_FOR_DELEGATION | TRUSTED_TO_AUTH_FOR_DELEGATION
UAC_TEXT = ("%%2094", "%%2098", "trusted for delegation", "trusted to authenticate")  # 4742
PA_FOR_USER, PA_S4U_X509_USER = 129, 130  # MS-SFU 2.2.1 / 2.2.2


@dataclass(slots=True)
class NewComputer:
    name: str  # with the trailing $
    created: datetime
    creator: Account | None
    sid: str | None
    activity: Activity


class NewComputerKerberosDelegation(Detector):
    slug: ClassVar[str] = "new-computer-kerberos-delegation"
    external_id: ClassVar[int] = 2422
    title: ClassVar[str] = "Suspicious Kerberos delegation attempt by a newly created computer"
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1484",)
    handles: ClassVar[frozenset[str]] = frozenset({
        K.COMPUTER_CREATED, K.DS_CREATE, K.DS_MODIFY, K.COMPUTER_CHANGED, K.KERBEROS_TGS,
        K.LDAP_BIND, K.LOGON})
    window: ClassVar[timedelta] = timedelta(hours=24)  # how long a computer counts as new

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.binds = self.shared("ldap-binds", LdapBinds)
        self.logons = self.shared("network-logons", NetworkLogons)
        self._new: BoundedDict[NewComputer] = BoundedDict(10_000)  # name without $ -> info

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is K.LDAP_BIND:
            self.binds.observe(a)
            return []
        if a.kind is K.LOGON:
            self.logons.observe(a)
            return []
        if a.kind is K.COMPUTER_CREATED:
            name = (a.target.name if a.target else None) or a.fields.get("sam_account_name")
            if name:
                self._remember(str(name), a, named(self.resolver, a.actor),
                               a.target.sid if a.target else None)
            return []
        if a.kind is K.KERBEROS_TGS:
            return self._s4u(a)
        if a.kind is K.COMPUTER_CHANGED:
            return self._event_change(a)
        c = ds_change(a, self.resolver, self.binds, self.logons)
        if c is None:
            return []
        sams = c.values.get("samaccountname")
        sam = sams[0] if sams else None
        if c.created:
            if sam and sam.endswith("$"):
                self._remember(sam, a, c.actor, None)
            return []
        out = []
        info = self._fresh(sam or c.cn, a.ts)
        if info is not None:
            what = []
            if c.adds("msds-allowedtodelegateto"):
                targets = ", ".join(c.values.get("msds-allowedtodelegateto") or [])
                what.append("constrained delegation (msDS-AllowedToDelegateTo"
                            + (f": {targets}" if targets else "") + ")")
            for v in c.values.get("useraccountcontrol") or []:
                if v.isdigit() and int(v) & DELEGATION_UAC:
                    what.append(_uac_text(int(v)))
            if what:
                out += self._fire(a, info, f"was given {' and '.join(what)}", c.actor, c.dc,
                                  c.src_ip, c.src_host)
        if c.adds("msds-allowedtoactonbehalfofotheridentity"):
            sd = " ".join(c.values.get("msds-allowedtoactonbehalfofotheridentity") or [])
            for nc in list(self._new.values()):
                if nc.sid and nc.sid in sd and a.ts - nc.created <= self.window:
                    out += self._fire(a, nc, f"was allowed to delegate to {c.cn} (resource-"
                                      "based constrained delegation)", c.actor, c.dc,
                                      c.src_ip, c.src_host)
        return out

    def _remember(self, name: str, a: Activity, creator: Account | None,
                  sid: str | None) -> None:
        key = name.lower().rstrip("$")
        if key not in self._new:
            self._new[key] = NewComputer(name if name.endswith("$") else f"{name}$", a.ts,
                                         creator, sid, a)

    def _fresh(self, name: str | None, ts: datetime) -> NewComputer | None:
        info = self._new.get((name or "").lower().rstrip("$"))
        if info is None or not timedelta(0) <= ts - info.created <= self.window:
            return None
        return info

    def _event_change(self, a: Activity) -> list[AlertDraft]:
        info = self._fresh(a.target.name if a.target else None, a.ts)
        if info is None:
            return []
        f = a.fields
        what = []
        if f.get("allowed_to_delegate_to"):
            what.append(f"constrained delegation (msDS-AllowedToDelegateTo: "
                        f"{f['allowed_to_delegate_to']})")
        new_uac = str(f.get("new_uac") or "")
        old_uac = str(f.get("old_uac") or "0")
        try:
            gained = int(new_uac, 16) & ~int(old_uac, 16) & DELEGATION_UAC
        except ValueError:
            gained = 0
        text = str(f.get("uac_changes") or "").lower()
        if gained:
            what.append(_uac_text(gained))
        elif any(t in text for t in UAC_TEXT):
            what.append("delegation flags in userAccountControl")
        if not what:
            return []
        src = self.logons.source_of(a.host, f.get("logon_id"), a.ts, a.actor)
        return self._fire(a, info, f"was given {' and '.join(what)}",
                          named(self.resolver, a.actor), a.host, *src)

    def _s4u(self, a: Activity) -> list[AlertDraft]:
        f = a.fields
        info = self._fresh(acct_key(a.actor), a.ts) if a.actor else None
        if info is None and f.get("transited"):
            # 4769 of S4U2proxy names the impersonated user; the delegating service (the
            # requester) is in Transited Services as name@REALM
            for t in str(f["transited"]).replace(",", " ").split():
                info = info or self._fresh(t.split("@", 1)[0], a.ts)
        if info is None:
            return []
        pa = f.get("pa_types") or []
        opts = f.get("kdc_options") or []
        kind = None
        if f.get("s4u_user") or PA_FOR_USER in pa or PA_S4U_X509_USER in pa:
            who = f.get("s4u_user")
            kind = "an S4U2self ticket" + (f" for {who}" if who else "")
        elif "constrained-delegation" in opts or "cname-in-addl-tkt" in opts or \
                f.get("transited"):
            svc = f.get("sname") or f.get("service")
            kind = "an S4U2proxy ticket" + (f" to {svc}" if svc else "")
        if kind is None:
            return []
        wire = a.protocol not in (None, "event", "samba")
        ip, ws = rpc_source(a, self.resolver) if wire else (a.src_ip, a.src_host)
        dc = rpc_target(a, self.resolver) if wire else a.host
        outcome = {"success": "", "failure": " (refused)"}.get(a.outcome or "", "")
        return self._fire(a, info, f"requested {kind}{outcome}", a.actor, dc, ip, ws)

    def _fire(self, a: Activity, info: NewComputer, what: str, actor: Account | None,
              dc: str | None, ip: str | None, ws: str | None) -> list[AlertDraft]:
        age = a.ts - info.created
        creator = actor_text(info.creator, "an unknown user")
        mins = int(age.total_seconds() // 60)
        when = "less than a minute" if mins < 1 else f"{mins} minute{'s' if mins > 1 else ''}"
        return [self.draft(
            key=info.name.lower(),
            activities=[info.activity, a],
            description=f"{info.name}, created by {creator} {when} earlier, {what} "
                        f"on {display(dc)}.",
            entities=refs(EntityRef("computer", info.name.rstrip("$").upper(), "new computer",
                                    sid=info.sid),
                          user_ref(info.creator, "creator"),
                          user_ref(actor, "actor") if actor and acct_key(actor) !=
                          info.name.lower() else None,
                          host_ref(ws, "source computer", ip),
                          ip_ref(ip, "source IP") if ws else None,
                          host_ref(dc, "domain controller")),
            evidence={k: v for k, v in (
                ("computer", info.name), ("creator", creator),
                ("created", info.created.isoformat()), ("delegation", [what]),
                ("domain_controller", display(dc)), ("source_ip", ip),
                ("source_computer", display(ws) if ws else None)) if v},
        )]


def _uac_text(v: int) -> str:
    parts = []
    if v & TRUSTED_FOR_DELEGATION:
        parts.append("unconstrained delegation (TRUSTED_FOR_DELEGATION)")
    if v & TRUSTED_TO_AUTH_FOR_DELEGATION:
        parts.append("protocol transition (TRUSTED_TO_AUTH_FOR_DELEGATION)")
    return " and ".join(parts)
