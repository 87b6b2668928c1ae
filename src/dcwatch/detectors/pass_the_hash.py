"""Suspected identity theft (pass-the-hash): MDI external ID 2017.

A user's NTLM hash taken on one computer is used on another: a successful NTLM authentication
for account U from computer C while, within ``window``, U obtained Kerberos TGTs (logged on)
only from other computers and never from C. Windows uses Kerberos for a domain user who logged
on at C; NTLM from a computer where U never logged on is the hash travelling.
Sources: NTLM AUTHENTICATE on the wire (``ntlm.auth``), event 4776 (by workstation name), and
AS exchanges (wire or 4768) for the logon profile; one alert per (account, computer). Shares the
stolen hash's SMB sessions then open (``smb.tree_connect`` from that IP as that account) are
added as the resources accessed.
Learning: none documented; live mode still needs the profile, built as activities flow.
Known false positives: users on computers that fall back to NTLM (no DC line of sight, IP-based
UNC paths); the alert says where U did log on.
State: per account the computers it got TGTs from (BoundedDict of 100k accounts, a few IPs
each): ~3 MB per 10k accounts.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from dcwatch.detectors._common import host_ref, is_anonymous
from dcwatch.detectors._netcommon import acct_key, acct_text, norm_ip, target_dc, where
from dcwatch.detectors.base import (
    BoundedDict,
    DetectionContext,
    Detector,
    refs,
    user_ref,
)
from dcwatch.entities.resolver import short
from dcwatch.model.activity import Activity, ActivityKind
from dcwatch.model.alert import AlertDraft, Phase, Severity

K = ActivityKind


class PassTheHash(Detector):
    slug: ClassVar[str] = "pass-the-hash"
    external_id: ClassVar[int] = 2017
    title: ClassVar[str] = "Suspected identity theft (pass-the-hash)"
    phase: ClassVar[Phase] = Phase.LATERAL_MOVEMENT
    severity: ClassVar[Severity] = Severity.HIGH
    mitre: ClassVar[tuple[str, ...]] = ("T1550", "T1550.002")
    handles: ClassVar[frozenset[str]] = frozenset({K.KERBEROS_AS, K.NTLM_AUTH,
                                                   K.NTLM_VALIDATION, K.SMB_TREE_CONNECT})

    window: ClassVar[timedelta] = timedelta(hours=10)

    def __init__(self, ctx: DetectionContext) -> None:
        super().__init__(ctx)
        self._logons: BoundedDict[dict[str, datetime]] = BoundedDict(100_000)
        # "account|source IP" of a raised alert -> (key, description, shares accessed since)
        self._used: BoundedDict[tuple[str, str, list[str]]] = BoundedDict(10_000)

    def _names(self, a: Activity) -> set[str]:
        """Every name the data gives the client computer: IP, resolved name, workstation."""
        ip = norm_ip(a.src_ip)
        m = self.resolver.computer_for_ip(ip)
        return {n for n in (ip, m.host if m else None, short(a.src_host)) if n}

    def _display(self, names: set[str]) -> set[str]:
        """One name per computer: resolved names replace the IPs they stand for."""
        res = {n: self.resolver.computer_for_ip(n) for n in names}
        hosts = {m.host for m in res.values() if m}
        return {m.host if m else n for n, m in res.items()} if hosts else names

    def _resolved(self, names: set[str]) -> set[str]:
        out = set(names)
        for n in names:
            m = self.resolver.computer_for_ip(n)
            if m:
                out.add(m.host)
        return out

    def _computer_name(self, a: Activity) -> str | None:
        m = self.resolver.computer_for_ip(norm_ip(a.src_ip))
        return m.host if m else short(a.src_host) or norm_ip(a.src_ip)

    def observe(self, a: Activity) -> list[AlertDraft]:
        kind = a.kind
        if kind is K.SMB_TREE_CONNECT and not self._used:
            return []  # no session of a stolen hash to follow (almost always): the cheap test
        if a.actor is None or not a.actor.name or a.actor.is_machine or is_anonymous(a.actor):
            return []
        if kind is K.KERBEROS_AS and a.outcome != "success":
            return []  # only successful logons teach where an account logs on
        acct = acct_key(a.actor)
        if kind is K.SMB_TREE_CONNECT:
            return self._resource(a, acct)
        names = self._names(a)
        if not names:
            return []
        if kind is K.KERBEROS_AS:
            seen = self._logons.get(acct)
            if seen is None:
                seen = self._logons[acct] = {}
            for n in names:
                seen[n] = a.ts
            while len(seen) > 32:
                seen.pop(min(seen, key=seen.__getitem__))
            return []
        if a.outcome == "failure" or a.fields.get("anonymous"):
            return []
        seen = {c: t for c, t in (self._logons.get(acct) or {}).items()
                if a.ts - t <= self.window}
        if not seen or self._resolved(set(seen)) & self._resolved(names):
            return []
        comp = self._computer_name(a) or next(iter(names))
        if self.resolver.dc_status(norm_ip(a.src_ip) or comp)[0]:
            return []
        ip = norm_ip(a.src_ip)
        dc = target_dc(a, self.resolver)
        origins = sorted(self._display(set(seen)))
        user = acct_text(a.actor)
        key = f"{acct}|{comp.lower()}"
        text = (f"The NTLM hash of {user} was taken from a computer {user} had logged on to "
                f"earlier ({', '.join(origins)}) and then used from "
                f"{where(ip, comp if comp != ip else None)} against {dc}.")
        if ip and a.fields.get("via") == "smb":
            self._used[f"{acct}|{ip}"] = (key, text, [])
        return [self.draft(
            key=key,
            activities=[a],
            description=text,
            entities=refs(user_ref(a.actor, "victim"),
                          host_ref(comp if comp != ip else None, "source computer", ip),
                          *(host_ref(o, "logon computer") for o in origins),
                          host_ref(dc, "target server")),
            evidence={"logged_on_at": origins, "used_from": comp, "source_ip": ip,
                      "protocol": a.protocol, "via": a.fields.get("via")},
        )]

    def _resource(self, a: Activity, acct: str) -> list[AlertDraft]:
        """A share the stolen hash's SMB session opened afterwards (spec: resources accessed)."""
        used = self._used.get(f"{acct}|{norm_ip(a.src_ip)}")
        share = str(a.fields.get("share") or "")
        if used is None or a.outcome == "failure" or not share or \
                share.rstrip("\\").upper().endswith("\\IPC$"):
            return []
        key, text, shares = used
        if share not in shares and len(shares) < 50:
            shares.append(share)
        return [self.draft(
            key=key,
            activities=[a],
            description=f"{text[:-1]}; that SMB session then opened {', '.join(shares)}.",
            evidence={"resources_accessed": [share]},
        )]
