"""Helpers shared by the network-based detectors (not a detector: discovery skips ``_`` modules).

* Kerberos encryption types (RFC 3961/3962, RFC 4757) and what counts as weak.
* ``TicketLedger``: tickets the KDC was seen issuing (AS-REP / TGS-REP), by fingerprint of the
  ticket cipher (``ticket_fingerprint``), with owner, client IP and time. Bounded (FIFO), so
  memory is ~200 bytes per ticket: 10k accounts with ~5 tickets each ~ 10 MB at the default cap.
* Naming helpers: who did it, from which computer (name when the resolver knows it, else IP).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from dcwatch.detectors.base import BoundedDict
from dcwatch.entities.resolver import Resolver, short
from dcwatch.model.activity import Account, Activity
from dcwatch.model.alert import AlertDraft

# RFC 3961 / RFC 3962 / RFC 4757 / RFC 8009 encryption types
DES = frozenset({1, 2, 3})
RC4 = frozenset({23, 24})
WEAK = DES | RC4
AES = frozenset({17, 18, 19, 20})
ETYPE_NAMES = {1: "DES-CBC-CRC", 3: "DES-CBC-MD5", 17: "AES128-CTS-HMAC-SHA1-96",
               18: "AES256-CTS-HMAC-SHA1-96", 19: "AES128-CTS-HMAC-SHA256-128",
               20: "AES256-CTS-HMAC-SHA384-192", 23: "RC4-HMAC", 24: "RC4-HMAC-EXP"}
# RFC 4120 7.5.2 PA-DATA types that prove the client knew a key (or a certificate/armor)
PA_ENC_TIMESTAMP = 2
PREAUTH_PA_TYPES = frozenset({2, 16, 17, 136, 138})  # enc-ts, PKINIT (2), FAST armor, enc-challenge
# RFC 4120 7.5.9 error codes
KDC_ERR_C_PRINCIPAL_UNKNOWN = 6
KDC_ERR_S_PRINCIPAL_UNKNOWN = 7
KDC_ERR_PREAUTH_FAILED = 24
KDC_ERR_PREAUTH_REQUIRED = 25
KRB_AP_ERR_BAD_INTEGRITY = 31
KRB_AP_ERR_MODIFIED = 41
KRB_AP_ERR_BADKEYVER = 44
KRB_ERR_NAMES = {6: "KDC_ERR_C_PRINCIPAL_UNKNOWN", 7: "KDC_ERR_S_PRINCIPAL_UNKNOWN",
                 20: "KDC_ERR_TGT_REVOKED", 31: "KRB_AP_ERR_BAD_INTEGRITY",
                 13: "KDC_ERR_BADOPTION", 41: "KRB_AP_ERR_MODIFIED",
                 44: "KRB_AP_ERR_BADKEYVER", 50: "KRB_AP_ERR_INAPP_CKSUM"}
ANONYMOUS_PRINCIPALS = frozenset({"wellknown/anonymous", "anonymous"})  # RFC 8062 / FAST


def etype_name(e: int | None) -> str:
    """Display name of an encryption type."""
    return ETYPE_NAMES.get(e, str(e)) if e is not None else "unknown"


def is_tgt(sname: str | None) -> bool:
    """A krbtgt/... service name: the ticket is a TGT."""
    return bool(sname) and sname.lower().startswith("krbtgt")  # type: ignore[union-attr]


def wire(a: Activity) -> bool:
    """The activity was decoded from the network (not a Windows/Samba log)."""
    return a.protocol not in (None, "event", "samba")


def norm_ip(ip: str | None) -> str | None:
    """IPv4-mapped IPv6 (``::ffff:10.0.0.5``, as 4768 writes it) to plain IPv4."""
    if ip and ip.lower().startswith("::ffff:") and "." in ip:
        return ip[7:]
    return ip or None


def acct_key(acct: Account | None) -> str:
    """One key per account: lower-case name without realm/domain."""
    if acct is None or not acct.name:
        return (acct.sid or "?").lower() if acct else "?"
    n = acct.name.lower()
    if "@" in n:
        n = n.split("@", 1)[0]
    if "\\" in n:
        n = n.rsplit("\\", 1)[1]
    return n


def acct_text(acct: Account | None, fallback: str = "An unknown account") -> str:
    """``DOMAIN\\name`` (realms shortened to their first label), or the fallback."""
    if acct is None or not (acct.name or acct.sid):
        return fallback
    dom = (acct.domain or "").split(".", 1)[0].upper()
    return f"{dom}\\{acct.name}" if dom and acct.name else (acct.name or acct.sid or fallback)


def source(a: Activity, resolver: Resolver) -> tuple[str | None, str | None]:
    """(IP, computer short name) of the client of an activity."""
    ip = norm_ip(a.src_ip)
    m = resolver.computer_for_ip(ip)
    host = short(a.src_host) or (m.host if m else None)
    return ip, host


def target_dc(a: Activity, resolver: Resolver) -> str | None:
    """The server (DC) of a wire activity as a short name when known, else its IP."""
    if not wire(a):
        return short(a.host) or a.host
    if a.dst_host:
        return short(a.dst_host) or a.dst_host
    m = resolver.computer_for_ip(a.dst_ip)
    return m.host if m else (a.dst_ip or a.host)


def where(ip: str | None, host: str | None) -> str:
    """How a description names a computer: its name, else its IP."""
    return host or ip or "an unknown computer"


def same_computer(resolver: Resolver, ip1: str | None, ip2: str | None) -> bool:
    """Two addresses are one computer: equal, or both resolved to the same name."""
    if ip1 == ip2:
        return True
    m1, m2 = resolver.computer_for_ip(ip1), resolver.computer_for_ip(ip2)
    return bool(m1 and m2 and m1.host == m2.host)


@dataclass(slots=True)
class Issue:
    """One ticket the KDC issued in clear view."""

    account: Account | None
    ip: str | None
    ts: datetime
    etype: int | None
    service: str | None
    via_tgt: str | None = None  # fingerprint of the TGT a service ticket was obtained with


class TicketLedger:
    """Tickets seen issued by the KDC (AS-REP and TGS-REP), by ticket fingerprint."""

    def __init__(self, max_tickets: int = 50_000) -> None:
        self.tickets: BoundedDict[Issue] = BoundedDict(max_tickets)
        self.tgt_etypes: dict[int, int] = {}  # etypes of TGTs the KDC issued -> count

    def observe(self, a: Activity) -> Issue | None:
        """Record the ticket a successful wire AS/TGS exchange issued; returns it."""
        f = a.fields
        fp = f.get("ticket_fingerprint")
        if not fp or a.outcome != "success" or not wire(a) or a.kind not in (
                "kerberos.as_request", "kerberos.tgs_request"):
            return None
        sname = f.get("sname")
        owner = a.actor
        cname = f.get("reply_cname")
        if cname and cname.lower() not in ANONYMOUS_PRINCIPALS and (owner is None
                                                                       or not owner.name):
            owner = Account(cname, f.get("realm"))
        used = f.get("used_ticket_fingerprint")
        if used and used in self.tickets and self.tickets[used].account is not None:
            owner = self.tickets[used].account  # FAST/anonymous replies: keep the TGT's owner
        issue = Issue(owner, norm_ip(a.src_ip), a.ts, f.get("ticket_etype"), sname, used)
        self.tickets[fp] = issue
        if is_tgt(sname) and f.get("ticket_etype") is not None:
            e = int(f["ticket_etype"])
            self.tgt_etypes[e] = self.tgt_etypes.get(e, 0) + 1
        return issue

    def get(self, fp: str | None) -> Issue | None:
        """The issue record of a ticket, if its issue was seen."""
        return self.tickets.get(fp) if fp else None

    def kdc_issues_aes_tgts(self) -> bool:
        """The KDC was seen issuing AES-encrypted TGTs (the domain's krbtgt has AES keys)."""
        return any(e in AES for e in self.tgt_etypes)


class DcGate:
    """Drafts about a wire target whose DC role the data cannot tell yet.

    A draft is held while the resolver does not know whether the server is a DC. At the end of
    input it is released (the engine then decides with what it learned) when the server was
    shown to be a DC, or when the data reveals no DC at all - a capture taken on one server's
    interface, which is then the monitored DC; it is dropped when other DCs are known and this
    server is not one of them. Memory: at most ``max_held`` drafts.
    """

    def __init__(self, resolver: Resolver, max_held: int = 1000) -> None:
        self.resolver = resolver
        self.held: list[tuple[str, AlertDraft]] = []
        self.max_held = max_held

    def hold(self, target: str, draft: AlertDraft) -> list[AlertDraft]:
        """Return the draft now when the target is a known DC, else keep it for ``release``."""
        status, _ = self.resolver.dc_status(target)
        if status:
            return [draft]
        if status is None and len(self.held) < self.max_held:
            self.held.append((target, draft))
        return []

    def release(self) -> list[AlertDraft]:
        """End of input: the held drafts that concern a DC (see the class docstring)."""
        out = []
        no_dc_known = not self.resolver.dc_ips and not any(
            h.dc_evidence for h in self.resolver.hosts.values()) and \
            not self.resolver.configured_dcs
        for target, draft in self.held:
            status, _ = self.resolver.dc_status(target)
            if status or (status is None and no_dc_known):
                draft.evidence.pop("_assume_dc", None)
                out.append(draft)
        self.held.clear()
        return out
