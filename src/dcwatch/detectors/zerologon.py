"""Suspected Netlogon privilege elevation attempt (CVE-2020-1472 exploitation): MDI ID 2411.

Zerologon: a client sets up a Netlogon secure channel with an all-zero client credential (and
challenge), repeating until the 1-in-256 chance hits, then resets the DC's machine password.
Sources: on the wire ``rpc.call`` netlogon NetrServerAuthenticate2/3 whose ClientCredential is
all zeros (one is enough), NetrServerPasswordSet2 with an all-zero new password, bursts of
NetrServerAuthenticate* from one client; Microsoft-Windows-RPC ETW event 6 on the DC showing
NetrServerPasswordSet2 over an unauthenticated binding (AuthenticationLevel 1: genuine clients
use Netlogon secure RPC) or a burst of NetrServerAuthenticate*; event 4742 where ANONYMOUS
LOGON changes a DC's computer account (the password reset); System 5805 where the client
claiming the secure channel is the DC itself (a DC never sets one up to itself).
A Netlogon server is a DC by definition, so no "is it a DC" gate applies to the RPC evidence.
Known false positives: the source is really a DC (resolution); legacy Netlogon clients without
secure RPC (exclude them).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from dcwatch.detectors._common import (
    NetworkLogons,
    dc_key,
    display,
    host_ref,
    is_anonymous,
    is_remote_ip,
    is_zero,
    rpc_args,
    rpc_op,
    rpc_source,
    rpc_target,
)
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    SlidingWindow,
    ip_ref,
    refs,
    user_ref,
)
from dcwatch.entities.resolver import short
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

K = ActivityKind

# MS-NRPC 3.5.4.4: secure channel setup and password set
NRPC = {4: "NetrServerReqChallenge", 5: "NetrServerAuthenticate", 15: "NetrServerAuthenticate2",
        26: "NetrServerAuthenticate3", 6: "NetrServerPasswordSet", 30: "NetrServerPasswordSet2"}
AUTHENTICATE = frozenset({"serverauthenticate", "serverauthenticate2", "serverauthenticate3"})
PASSWORD_SET = frozenset({"serverpasswordset", "serverpasswordset2"})
_UNAUTHENTICATED = {None, 0, 1, "none", "default"}  # C706 13.1.2.1 rpc_c_protect_level_none


def _zero_flag(args: dict[str, Any], *names: str) -> bool:
    return any(is_zero(args.get(n)) for n in names if n in args)


class Zerologon(Detector):
    slug: ClassVar[str] = "zerologon"
    external_id: ClassVar[int] = 2411
    title: ClassVar[str] = ("Suspected Netlogon privilege elevation attempt "
                            "(CVE-2020-1472 exploitation)")
    phase: ClassVar[Phase] = Phase.PERSISTENCE
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("TA0004",)
    handles: ClassVar[frozenset[str]] = frozenset({
        K.RPC_CALL, K.COMPUTER_CHANGED, K.NETLOGON_AUTH_DENIED, K.LOGON})

    burst_window: ClassVar[timedelta] = timedelta(minutes=1)
    # Genuine clients authenticate once per secure channel; the exploit needs ~256 tries on
    # average. 20 in a minute from one client is far above any legitimate retry pattern.
    min_burst: ClassVar[int] = 20

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self.logons = NetworkLogons(timedelta(minutes=5))
        self._bursts: BoundedDict[SlidingWindow[Activity]] = BoundedDict(10_000)
        self._facts: BoundedDict[dict[str, str]] = BoundedDict(10_000)  # key -> fact lines

    def observe(self, a: Activity) -> list[AlertDraft]:
        if a.kind is K.LOGON:
            self.logons.observe(a)
            return []
        if a.kind is K.COMPUTER_CHANGED:
            return self._anonymous_change(a)
        if a.kind is K.NETLOGON_AUTH_DENIED:
            return self._self_channel(a)
        if str(a.fields.get("interface") or "").lower() == "netlogon":
            return self._rpc(a)
        return []

    # --- events ----------------------------------------------------------------------------

    def _anonymous_change(self, a: Activity) -> list[AlertDraft]:
        t = a.target
        if not is_anonymous(a.actor) or t is None or not t.is_machine:
            return []
        own = short(t.name[:-1]) == short(a.host)  # type: ignore[index]
        if not own and self.resolver.is_dc_account(t) is False:
            return []
        s = self.logons.last_remote(a.host, a.ts, anonymous=True)
        ip = s.src_ip if s and is_remote_ip(s.src_ip) else None
        fact = (f"ANONYMOUS LOGON changed the computer account {t.name} of the domain "
                "controller (password reset without credentials)")
        extra = {"password_last_set": a.fields.get("password_last_set")}
        if s is not None:
            extra["anonymous_logon"] = \
                f"network logon (type {s.logon_type}) from {s.src_host or ip}"
        return [self._draft(a, a.host, ip, s.src_host if s else None, t, fact, extra)]

    def _self_channel(self, a: Activity) -> list[AlertDraft]:
        client = short(a.fields.get("client_computer") or a.src_host)
        if a.src_ip and is_remote_ip(a.src_ip):
            # A refused secure-channel setup seen with its client address (Samba's audit):
            # counted like the wire's ServerAuthenticate attempts.
            return self._refused_burst(a, client)
        if not client or client != short(a.host):
            return []
        fact = (f"a Netlogon secure channel claiming to be {client} itself was refused "
                "(event 5805): a DC never sets up a secure channel to itself")
        return [self._draft(a, a.host, None, None, Account(f"{client}$"), fact,
                            {"status": a.fields.get("binary")})]

    def _refused_burst(self, a: Activity, client: str | None) -> list[AlertDraft]:
        dc = a.host or a.dst_ip
        ip = a.src_ip
        w = self._bursts.setdefault(f"{dc_key(dc)}|{ip}", SlidingWindow(self.burst_window))
        w.add(a.ts, a)
        if len(w) < self.min_burst:
            return []
        target = Account(f"{client}$") if client else None
        fact = (f"{len(w)} refused Netlogon secure-channel setups within "
                f"{int(self.burst_window.total_seconds())} s"
                + (f" claiming to be {client}" if client else ""))
        return [self._draft(a, dc, ip, None, target, fact, {"attempts": len(w)},
                            acts=w.items()[-50:], fact_key="burst")]

    # --- RPC (wire and ETW) ------------------------------------------------------------------

    def _rpc(self, a: Activity) -> list[AlertDraft]:
        op = rpc_op(a, NRPC)
        args = rpc_args(a)
        etw = bool(a.fields.get("etw"))
        dc = a.host if etw else rpc_target(a, self.resolver)
        ip, ws = (None, None) if etw else rpc_source(a, self.resolver)
        if etw and is_remote_ip(a.fields.get("network_address")):
            ip = a.fields.get("network_address")
        account = args.get("account") or args.get("computer")
        target = Account(str(account)) if account else None
        if op in AUTHENTICATE:
            if _zero_flag(args, "credential_all_zero", "zero_credential", "client_credential",
                          "credential"):
                fact = (f"{op_name(op)} with an all-zero client credential for "
                        f"{account or 'an unknown account'}")
                return [self._draft(a, dc, ip, ws, target, fact, {"attempt": "zero credential"})]
            w = self._bursts.setdefault(f"{dc_key(dc)}|{ip or ws or '?'}",
                                        SlidingWindow(self.burst_window))
            w.add(a.ts, a)
            if len(w) >= self.min_burst:
                fact = (f"{len(w)} Netlogon authentication attempts within "
                        f"{int(self.burst_window.total_seconds())} s")
                return [self._draft(a, dc, ip, ws, target, fact, {"attempts": len(w)},
                                    acts=w.items()[-50:], fact_key="burst")]
            return []
        if op in PASSWORD_SET:
            zero = _zero_flag(args, "password_all_zero", "zero_password", "new_password")
            level = a.fields.get("auth_level")
            if zero or (etw and level in _UNAUTHENTICATED):
                why = "an all-zero new password" if zero else \
                    "an unauthenticated RPC binding (no Netlogon secure RPC)"
                fact = (f"{op_name(op)} reset the password of {account or 'a machine account'} "
                        f"over {why}")
                prior = self._bursts.get(f"{dc_key(dc)}|{ip or ws or '?'}")
                acts = (prior.items()[-20:] if prior else []) + [a]
                return [self._draft(a, dc, ip, ws, target, fact, {"password_reset": True},
                                    acts=acts)]
        return []

    # --- drafting -----------------------------------------------------------------------------

    def _draft(self, a: Activity, dc: str | None, ip: str | None, ws: str | None,
               target: Account | None, fact: str, extra: dict[str, Any],
               acts: list[Activity] | None = None, fact_key: str | None = None) -> AlertDraft:
        key = dc_key(dc)
        facts = self._facts.setdefault(key, {})
        facts[fact_key or fact] = fact
        src = display(ws) if ws else (ip or "An unknown computer")
        description = (f"{src} may have attempted to exploit the Netlogon vulnerability "
                       f"(CVE-2020-1472) against {display(dc)}: " + "; ".join(facts.values())
                       + ".")
        evidence = {"domain_controller": display(dc), "source_ip": ip,
                    "source_computer": short(ws) if ws else None,
                    "targeted_account": target.name if target else None,
                    "facts": [fact], **extra}
        return self.draft(
            key=key,
            activities=acts or [a],
            description=description,
            entities=refs(host_ref(ws, "source computer", ip),
                          ip_ref(ip, "source IP") if ws else None,
                          host_ref(dc, "target domain controller"),
                          user_ref(target, "targeted account") if target else None),
            evidence={k: v for k, v in evidence.items() if v is not None},
        )


def op_name(op: str) -> str:
    """IDL name of a normalised Netlogon operation."""
    return "Netr" + {"serverauthenticate": "ServerAuthenticate",
                     "serverauthenticate2": "ServerAuthenticate2",
                     "serverauthenticate3": "ServerAuthenticate3",
                     "serverpasswordset": "ServerPasswordSet",
                     "serverpasswordset2": "ServerPasswordSet2"}.get(op, op)
