"""What the data says about entities, learned as activities flow (before detectors see them).

* DC list: hosts whose own logs prove they are domain controllers (they issue Kerberos tickets,
  log directory-service access or changes, manage computer accounts or global/universal groups,
  log DSRM or Netlogon secure-channel events, answer Kerberos/LDAP/DRSUAPI on the wire) plus
  ``--dc`` names. A host is *not* a DC when its event log names it without a DNS domain
  (workgroup machine) or when DCs of its domain are known and it is not one of them.
* IP <-> computer with the method and time each mapping was learned (NNR-lite).
* SID <-> account names; sensitive groups by well-known SID/RID (never by localized names).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from dcwatch.model.activity import Account, Activity, ActivityKind

K = ActivityKind

# MDI's default sensitive groups (product.md 4.3) by well-known SID or domain-relative RID.
SENSITIVE_BUILTIN = {
    "S-1-5-32-544": "Administrators",
    "S-1-5-32-547": "Power Users",
    "S-1-5-32-548": "Account Operators",
    "S-1-5-32-549": "Server Operators",
    "S-1-5-32-550": "Print Operators",
    "S-1-5-32-551": "Backup Operators",
    "S-1-5-32-552": "Replicators",
    "S-1-5-32-556": "Network Configuration Operators",
    "S-1-5-32-557": "Incoming Forest Trust Builders",
}
SENSITIVE_RIDS = {
    512: "Domain Admins",
    516: "Domain Controllers",
    518: "Schema Admins",
    519: "Enterprise Admins",
    520: "Group Policy Creator Owners",
    521: "Read-only Domain Controllers",
    498: "Enterprise Read-only Domain Controllers",
    526: "Key Admins",
    527: "Enterprise Key Admins",
}
SENSITIVE_USER_RIDS = {500: "Administrator", 502: "krbtgt"}

# Activities whose presence in a host's own log proves the host is a DC, with the reason.
_DC_KINDS = {
    K.KERBEROS_AS: "issues Kerberos tickets (4768)",
    K.KERBEROS_TGS: "issues Kerberos service tickets (4769)",
    K.KERBEROS_RENEW: "renews Kerberos tickets (4770)",
    K.KERBEROS_PREAUTH_FAILED: "validates Kerberos pre-authentication (4771)",
    K.DS_MODIFY: "logs directory service changes (5136)",
    K.DS_CREATE: "logs directory service object creation (5137)",
    K.DS_DELETE: "logs directory service object deletion (5141)",
    K.COMPUTER_CREATED: "manages computer accounts (4741)",
    K.COMPUTER_CHANGED: "manages computer accounts (4742)",
    K.COMPUTER_DELETED: "manages computer accounts (4743)",
    K.DSRM_PASSWORD_SET: "has a DSRM account (4794)",
    K.NETLOGON_AUTH_DENIED: "serves Netlogon secure channels (5805)",
    K.SID_HISTORY_ADDED: "manages domain accounts (4765)",
}


_SERVICE_TARGETS = frozenset({K.KERBEROS_TGS, K.KERBEROS_RENEW, K.KERBEROS_AP})
_GROUP_KINDS = frozenset({K.GROUP_MEMBER_ADDED, K.GROUP_MEMBER_REMOVED, K.GROUP_CREATED,
                          K.GROUP_CHANGED, K.GROUP_DELETED})
_LOCAL_ACCOUNT_KINDS = frozenset({K.LOGON, K.LOGON_FAILED, K.LOGON_PRIVILEGED, K.LOG_CLEARED,
                                  K.LOGON_EXPLICIT, K.PROCESS_CREATED})
_NOT_DOMAINS = frozenset({"NT AUTHORITY", "BUILTIN", "WINDOW MANAGER", "FONT DRIVER HOST",
                          "NT SERVICE", "IIS APPPOOL", "-", ""})


# Directory writes on the wire (LDAP modify) and Samba's audit name groups by DN only. Until a
# directory sync maps DNs to SIDs, the *default* names of the well-known groups (which Samba
# never localizes, and which Windows DCs keep unless renamed) map to their RIDs.
WELL_KNOWN_GROUP_CN = {
    "domain admins": 512, "domain controllers": 516, "schema admins": 518,
    "enterprise admins": 519, "group policy creator owners": 520,
    "read-only domain controllers": 521, "enterprise read-only domain controllers": 498,
    "key admins": 526, "enterprise key admins": 527,
}
WELL_KNOWN_BUILTIN_CN = {
    "administrators": "S-1-5-32-544", "account operators": "S-1-5-32-548",
    "server operators": "S-1-5-32-549", "print operators": "S-1-5-32-550",
    "backup operators": "S-1-5-32-551", "replicator": "S-1-5-32-552",
    "network configuration operators": "S-1-5-32-556",
    "incoming forest trust builders": "S-1-5-32-557",
}


def cn_of(dn: str | None) -> str | None:
    """First RDN value of a DN (``CN=Domain Admins,CN=Users,...`` -> ``Domain Admins``)."""
    if not dn or "=" not in dn:
        return dn
    return dn.split("=", 1)[1].split(",", 1)[0].replace("\\", "")


def well_known_group(dn: str | None, domain_sid: str | None = None) -> Account | None:
    """The well-known group a DN names (by default name and container), with its SID."""
    name = cn_of(dn)
    low = (name or "").lower()
    d = (dn or "").lower()
    if ",cn=builtin," in d and low in WELL_KNOWN_BUILTIN_CN:
        return Account(name, "BUILTIN", WELL_KNOWN_BUILTIN_CN[low])
    if low in WELL_KNOWN_GROUP_CN and (",cn=users," in d or d.startswith(f"cn={low},")):
        r = WELL_KNOWN_GROUP_CN[low]
        return Account(name, None, f"{domain_sid}-{r}" if domain_sid else f"S-1-5-21-0-0-0-{r}")
    return None


_SHORT: dict[str, str | None] = {}  # short() of the names seen lately (4+ calls per activity)
_MISSING = object()


def short(host: str | None) -> str | None:
    """Upper-case NetBIOS-style short name of a host (``dc1.corp.local`` -> ``DC1``)."""
    if not host:
        return None
    s = _SHORT.get(host, _MISSING)
    if s is _MISSING:
        if len(_SHORT) >= 100_000:
            _SHORT.clear()
        s = _SHORT[host] = _short(host)
    return s  # type: ignore[return-value]


def _short(host: str) -> str | None:
    h = host.strip().strip("\\")
    if not h or h in ("-", "NULL"):
        return None
    if _is_ip(h):
        return None
    return h.split(".", 1)[0].upper()


def _is_ip(v: str) -> bool:
    if ":" in v:
        return True
    parts = v.split(".")
    return len(parts) == 4 and all(p.isdigit() for p in parts)


def _dns_domain(host: str | None) -> str | None:
    if not host or "." not in host or _is_ip(host):
        return None
    return host.split(".", 1)[1].lower()


def rid(sid: str | None) -> int | None:
    """The relative ID (last sub-authority) of a domain SID."""
    if not sid or not sid.startswith("S-1-5-21-"):
        return None
    tail = sid.rsplit("-", 1)[-1]
    return int(tail) if tail.isdigit() else None


@dataclass(slots=True)
class HostInfo:
    name: str  # short name
    fqdn: str | None = None
    dc_evidence: str | None = None
    logged_as: str | None = None  # the Computer name its own event log uses, if seen
    local_account: str | None = None  # why it is not a DC: its log names a local account
    ips: dict[str, datetime] = field(default_factory=dict)


class Session(NamedTuple):
    """A logon session as its 4624 described it."""

    src_ip: str | None
    src_host: str | None
    logon_type: int | None
    account: Account | None
    ts: datetime


@dataclass(slots=True)
class IpMapping:
    host: str
    method: str
    certainty: str  # high | low
    seen: datetime


class Resolver:
    """Entity knowledge learned from the stream, plus what the operator configured."""

    def __init__(self, dcs: list[str] | None = None, honeytokens: list[str] | None = None,
                 sensitive: list[str] | None = None) -> None:
        self.hosts: dict[str, HostInfo] = {}
        self.ip_map: dict[str, IpMapping] = {}
        self.dc_ips: dict[str, str] = {}  # ip -> reason
        self.sids: dict[str, Account] = {}
        self.configured_dcs = {short(d) for d in dcs or [] if short(d)}
        self.honeytokens = {_norm_account(n) for n in honeytokens or []}
        self.sensitive_names = {_norm_account(n) for n in sensitive or []}
        self.realms: dict[str, str] = {}  # Kerberos realm / DNS domain -> NetBIOS domain
        self.version = 0  # grows whenever what is known about DC roles changes
        # Activities observed: what detectors derive from an activity and this knowledge
        # (detectors._common.ds_change) is computed once per observation, then shared.
        self.observed = 0
        self.group_sids: set[str] = set()
        self.dn_sids: dict[str, str] = {}  # lower-case DN -> SID, where a source gave both
        self.domain_sids: set[str] = set()
        self.learned_sensitive_sids: dict[str, str] = {}  # sid -> why (added to which group)
        self.dc_domains: dict[str, set[str]] = {}  # dns domain -> DC short names
        # (host, logon id) -> (source ip, source workstation) from network logons (4624)
        # NTLM validation (4776) of an account whose domain differs from the validating host
        # proves the host is a DC: account -> hosts that validated it, account -> domains.
        self._validated_by: dict[str, set[str]] = {}
        self._account_domains: dict[str, set[str]] = {}
        self.sessions: dict[tuple[str, str], Session] = {}
        # Lateral movement paths (entities.lmp.LateralMovement), set when a directory is known
        self.lmp: Any = None
        self._init_memos()

    def _init_memos(self) -> None:
        # What observe() already learned from a (source address, workstation name) pair and
        # from a Samba DC's (host, destination) pair: most activities repeat a pair, and then
        # only the mapping's time moves (saves ~1 us per activity at domain scale).
        self._ws_pairs: dict[tuple[str, str], IpMapping] = {}
        self._samba_pairs: set[tuple[str, str | None]] = set()
        # Accounts whose (name, domain) pair _account_domain knows and has nothing pending for
        # (cleared when a name starts waiting in _validated_by)
        self._known_accounts: set[Account] = set()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if not {"_ws_pairs", "_samba_pairs", "_known_accounts"} <= state.keys():
            self._init_memos()  # a checkpoint of an older version (memos: caches only)
        self.__dict__.setdefault("observed", 0)

    # --- learning ---------------------------------------------------------------------------

    def observe(self, a: Activity) -> None:
        """Learn from one activity (called for every activity, before any detector)."""
        self.observed += 1
        host, protocol, kind, actor, target = a.host, a.protocol, a.kind, a.actor, a.target
        if protocol == "samba" and host and (host, a.dst_ip) not in self._samba_pairs:
            self._samba_dc(host, a)
        info = self._host(host) if host and protocol == "event" else None
        if info is not None:
            if info.logged_as is None:
                info.logged_as = host
            if info.local_account is None and kind in _LOCAL_ACCOUNT_KINDS:
                self._local_account(info, a)
            reason = _DC_KINDS.get(kind)
            if reason is None:
                reason = self._dc_reason(a)
            if reason and info.dc_evidence is None:
                self._mark_dc(info, reason)
        if actor:
            name = actor.name
            if actor.sid and name:
                self._learn_sid(actor)
        else:
            name = None
        if target and target.sid and target.name and kind not in _SERVICE_TARGETS:
            self._learn_sid(target)
            if kind in _GROUP_KINDS:
                self.group_sids.add(target.sid)
                dn = a.fields.get("group_dn")
                if dn and len(self.dn_sids) < 200_000:
                    self.dn_sids[dn.lower()] = target.sid
        if name:
            if kind is K.NTLM_VALIDATION and info is not None:
                self._ntlm_validated(info, name.lower())
            domain = actor.domain  # type: ignore[union-attr]
            if domain and not name.endswith("$") and actor not in self._known_accounts:
                low, dom = name.lower(), domain.upper()
                doms = self._account_domains.get(low)
                if doms is None or dom not in doms or low in self._validated_by:
                    self._account_domain(low, dom)
                    doms = self._account_domains.get(low)
                if doms is not None and dom in doms and low not in self._validated_by:
                    # known now: _account_domain would change nothing for this account again
                    if len(self._known_accounts) >= 200_000:
                        self._known_accounts.clear()
                    self._known_accounts.add(actor)  # type: ignore[arg-type]
        if kind is K.LOGON and a.fields.get("logon_id"):
            hs = short(a.host)
            if hs:
                if len(self.sessions) > 200_000:
                    self.sessions.pop(next(iter(self.sessions)))
                self.sessions[(hs, a.fields["logon_id"])] = Session(
                    a.src_ip, a.src_host, a.fields.get("logon_type"), a.actor, a.ts)
        src_ip = a.src_ip
        if src_ip and a.src_host:
            m = self._ws_pairs.get((src_ip, a.src_host))
            if m is not None and self.ip_map.get(src_ip) is m and src_ip not in self.dc_ips:
                if m.certainty == "low":
                    m.seen = a.ts  # this pair's own mapping again: only its time moves
            else:
                self._learn_ws(src_ip, a.src_host, a.ts)
        if kind is K.KERBEROS_AS and src_ip and name and name.endswith("$") \
                and a.outcome == "success":
            self._learn_ip(src_ip, name[:-1], "machine account TGT", "high", a.ts)
        dst_ip = a.dst_ip
        if dst_ip and protocol not in (None, "event", "samba"):
            if kind in _WIRE_DC_KINDS and dst_ip not in self.dc_ips:
                why = _wire_dc_reason(a)
                if why:
                    self.dc_ips[dst_ip] = why
                    self.version += 1
                    m = self.ip_map.get(dst_ip)
                    if m is not None:
                        self.mark_dc(m.host, why)
            if kind is K.KERBEROS_AP:
                self._learn_server_name(a)
            elif kind is K.NTLM_AUTH:
                self._learn_ntlm_names(a)
            elif kind is K.LDAP_SEARCH and "netlogon_dc_name" in a.fields:
                # an LDAP ping's answer: the DC names itself (MS-ADTS 6.3.1.9)
                f = a.fields
                self._learn_ip(dst_ip, f.get("netlogon_dc_dns") or f["netlogon_dc_name"],
                               "its answer to an LDAP ping", "high", a.ts)
        if kind is K.GROUP_MEMBER_ADDED and a.fields.get("member_sid"):
            g = self.sensitive_group(a.target)
            if g:
                self.learned_sensitive_sids.setdefault(a.fields["member_sid"], f"member of {g}")

    def _learn_ws(self, ip: str, host: str, ts: datetime) -> None:
        """The logon workstation name a record gives its source address (low certainty)."""
        self._learn_ip(ip, host, "logon workstation name", "low", ts)
        m = self.ip_map.get(ip)
        if m is not None and (m.certainty == "high" or (
                m.host == short(host) and m.method == "logon workstation name")):
            # While this stays the address's mapping and the address is no DC's, the same pair
            # again only moves the time of its own (low) mapping; a high-certainty mapping
            # (the machine's own TGT, its NTLM challenge) is never replaced by a name a
            # record gives (observe's fast path).
            if len(self._ws_pairs) >= 200_000:
                self._ws_pairs.clear()
            self._ws_pairs[(ip, host)] = m

    def _learn_sid(self, acct: Account) -> None:
        sid = acct.sid or ""
        if sid.startswith("S-1-5-21-") and sid.count("-") == 7 and len(self.domain_sids) < 64:
            self.domain_sids.add(sid.rsplit("-", 1)[0])
        cur = self.sids.get(acct.sid)  # type: ignore[arg-type]
        # Prefer the NetBIOS domain (CONTOSO\x) over a Kerberos realm (CONTOSO.LOCAL\x).
        if cur is None or (cur.domain and "." in cur.domain and acct.domain
                           and "." not in acct.domain):
            if cur is None and len(self.sids) >= 500_000:
                return
            self.sids[acct.sid] = acct  # type: ignore[index]

    def _local_account(self, info: HostInfo, a: Activity) -> None:
        # A DC has no local SAM accounts: an account whose domain is the logging host's own
        # name (HOST\user) proves a member server or workstation.
        for acct in (a.actor, a.target):
            if acct and acct.domain and acct.name and not acct.is_machine and \
                    acct.domain.upper() == info.name:
                info.local_account = f"its log names the local account {acct}"
                self.version += 1
                return

    def _samba_dc(self, host: str, a: Activity) -> None:
        why = "writes Samba AD DC audit logs"
        if len(self._samba_pairs) >= 10_000:
            self._samba_pairs.clear()
        # Everything below is learned for good (DC lists and mappings only grow): once done
        # for a (host, destination) pair, the same pair again would change nothing.
        self._samba_pairs.add((host, a.dst_ip))
        if _is_ip(host):
            if host not in self.dc_ips:
                self.dc_ips[host] = why
                self.version += 1
            return
        info = self._host(host)
        if info is not None and info.dc_evidence is None:
            self._mark_dc(info, why)
        if a.dst_ip and info is not None:
            if a.dst_ip not in self.dc_ips:
                self.dc_ips[a.dst_ip] = why
                self.version += 1
            if a.dst_ip not in self.ip_map:
                self.ip_map[a.dst_ip] = IpMapping(info.name, "Samba audit log of the DC",
                                                  "high", a.ts)

    def _ntlm_validated(self, info: HostInfo, name: str) -> None:
        if info.dc_evidence:
            return
        if any(d != info.name for d in self._account_domains.get(name, ())):
            self._mark_dc(info, "validates NTLM credentials of domain accounts (4776)")
            return
        if len(self._validated_by) < 100_000:
            if name not in self._validated_by:
                self._known_accounts.clear()  # this name has something pending again
            self._validated_by.setdefault(name, set()).add(info.name)

    def _account_domain(self, name: str, domain: str) -> None:
        doms = self._account_domains.get(name)
        if doms is not None and domain in doms and name not in self._validated_by:
            return  # known already: nothing below would change
        if domain in _NOT_DOMAINS or (name.endswith("$") and domain == "WORKGROUP"):
            return
        if doms is None:
            if len(self._account_domains) >= 100_000:
                return
            doms = self._account_domains[name] = set()
        doms.add(domain)
        if len(doms) > 1 and len(self.realms) < 64:
            # The same account under its Kerberos realm and its NetBIOS domain (CONTOSO.LOCAL
            # and CONTOSO): remember the pair, so alerts name accounts one way.
            dotted = [d for d in doms if "." in d]
            plain = [d for d in doms if "." not in d]
            if len(dotted) == 1 and len(plain) == 1:
                self.realms.setdefault(dotted[0], plain[0])
        for h in self._validated_by.pop(name, ()):
            info = self.hosts.get(h)
            if info is not None and not info.dc_evidence and h != domain:
                self._mark_dc(info, "validates NTLM credentials of domain accounts (4776)")

    def _dc_reason(self, a: Activity) -> str | None:
        if a.kind is K.DS_ACCESS and (a.fields.get("object_server") or "").upper() == "DS":
            return "logs directory service access (4662)"
        if a.kind in (K.GROUP_MEMBER_ADDED, K.GROUP_MEMBER_REMOVED, K.GROUP_CREATED,
                      K.GROUP_CHANGED, K.GROUP_DELETED) and \
                a.fields.get("group_scope") in ("global", "universal"):
            return "manages global/universal groups (4728/4756)"
        if a.kind is K.LDAP_SEARCH and a.protocol == "event":
            return "logs LDAP searches (Directory Service 1644)"
        if a.kind in (K.ACCOUNT_CREATED, K.ACCOUNT_CHANGED, K.ACCOUNT_DELETED,
                      K.PASSWORD_RESET) and a.target and a.target.domain:
            hs = short(a.host)
            if hs and a.target.domain.upper() != hs and a.target.domain.upper() != "BUILTIN":
                return "manages domain accounts (4720/4738)"
        return None

    def _host(self, name: str, s: str | None = None) -> HostInfo | None:
        s = s or short(name)
        if not s:
            return None
        info = self.hosts.get(s)
        if info is None:
            info = self.hosts[s] = HostInfo(s)
        if not info.fqdn and "." in name and not _is_ip(name):
            info.fqdn = name.lower()
        return info

    def _mark_dc(self, info: HostInfo, reason: str) -> None:
        info.dc_evidence = reason
        self.version += 1
        dom = _dns_domain(info.fqdn)
        if dom:
            self.dc_domains.setdefault(dom, set()).add(info.name)

    def _learn_ip(self, ip: str, host: str, method: str, certainty: str, ts: datetime) -> None:
        s = short(host)
        if not s or s in ("WORKSTATION", "MSTSC") or ip.startswith("127."):
            return
        cur = self.ip_map.get(ip)
        if cur is not None and cur.host == s and cur.method == method and \
                cur.certainty == certainty:
            cur.seen = ts  # the same mapping again (most calls): only its time moves
        elif cur is None or certainty == "high" or cur.certainty == "low":
            self.ip_map[ip] = IpMapping(s, method, certainty, ts)
        info = self._host(host, s)
        if ip in self.dc_ips and info is not None and info.dc_evidence is None:
            self._mark_dc(info, self.dc_ips[ip])

    def _learn_ntlm_names(self, a: Activity) -> None:
        # The server names itself in its NTLM CHALLENGE (MsvAvNbComputerName /
        # MsvAvDnsComputerName), what MDI's NNR asks for. The client's Workstation field is not
        # used: a relayed AUTHENTICATE carries its victim's name from the attacker's address.
        f = a.fields
        server = f.get("server_dns_name") or f.get("server_netbios_name")
        if server and a.dst_ip:
            self._learn_ip(a.dst_ip, server, "NTLM challenge of the server", "high", a.ts)

    def _learn_server_name(self, a: Activity) -> None:
        # A service ticket for host-based services (cifs/, host/, ldap/, HTTP/ ...) presented to
        # an address names the computer at that address (the sname's host part).
        svc = a.fields.get("service") or ""
        cls, _, rest = svc.partition("/")
        if not rest or cls.lower() in ("krbtgt", "kadmin") or not a.dst_ip:
            return
        host = rest.split("/", 1)[0].split(":", 1)[0]
        if host and not _is_ip(host):
            self._learn_ip(a.dst_ip, host, f"service ticket for {cls}/{host} presented to it",
                           "high", a.ts)

    def mark_dc(self, host: str, reason: str) -> None:
        """Declare a host a DC (directory sync, configuration)."""
        info = self._host(host)
        if info is not None and info.dc_evidence is None:
            self._mark_dc(info, reason)

    # --- questions --------------------------------------------------------------------------

    def dc_status(self, host: str | None) -> tuple[bool | None, str]:
        """(True, why) for a DC, (False, why) for a non-DC, (None, "") when the data cannot tell."""
        s = short(host)
        if host and _is_ip(host):
            if host in self.dc_ips:
                return True, self.dc_ips[host]
            m = self.ip_map.get(host)
            if m is None:
                return None, ""
            s = m.host
        if not s:
            return None, ""
        if s in self.configured_dcs:
            return True, "configured as a domain controller"
        info = self.hosts.get(s)
        if info is not None and info.dc_evidence:
            return True, info.dc_evidence
        if self.configured_dcs:
            return False, "not among the configured domain controllers"
        if info is not None and info.local_account:
            return False, info.local_account
        fqdn = info.fqdn if info else (host if host and "." in host else None)
        if info is not None and info.logged_as and "." not in info.logged_as and not info.fqdn:
            return False, "its event log names it without a DNS domain (workgroup computer)"
        dom = _dns_domain(fqdn)
        if dom and self.dc_domains.get(dom):
            dcs = ", ".join(sorted(self.dc_domains[dom]))
            return False, f"not a domain controller of {dom} (DCs seen: {dcs})"
        return None, ""

    def local_account_host(self, host: str | None) -> str | None:
        """Why ``host`` is not a DC when its own log named a local account, else None."""
        h = short(host)
        info = self.hosts.get(h) if h else None
        return info.local_account if info is not None else None

    def knows_any_dc(self) -> bool:
        """Whether the data (or configuration) revealed at least one domain controller."""
        return bool(self.dc_ips or self.configured_dcs or
                    any(h.dc_evidence for h in self.hosts.values()))

    def is_dc_account(self, acct: Account | None) -> bool | None:
        """Whether a machine account belongs to a DC (None: a machine account of unknown role)."""
        if acct is None or not acct.is_machine:
            return False
        status, _ = self.dc_status(acct.name[:-1])  # type: ignore[index]
        return status

    def session(self, host: str | None, logon_id: str | None) -> Session | None:
        """The logon (4624) that opened the session an event ran in, if seen."""
        hs = short(host)
        if not hs or not logon_id:
            return None
        return self.sessions.get((hs, logon_id))

    def session_source(self, host: str | None, logon_id: str | None
                       ) -> tuple[str | None, str | None] | None:
        """(source IP, source workstation) of the logon session an event ran in, when the
        session came from another computer."""
        s = self.session(host, logon_id)
        if s is None or not (s.src_ip or s.src_host):
            return None
        return s.src_ip, s.src_host

    def computer_for_ip(self, ip: str | None) -> IpMapping | None:
        """Best known computer for an IP address."""
        return self.ip_map.get(ip) if ip else None

    def sensitive_group(self, group: Account | None) -> str | None:
        """Name of the sensitive group (by SID/RID, or configured name), else None."""
        if group is None:
            return None
        sid = group.sid
        if sid:
            if sid in SENSITIVE_BUILTIN:
                return group.name or SENSITIVE_BUILTIN[sid]
            r = rid(sid)
            if r in SENSITIVE_RIDS:
                return group.name or SENSITIVE_RIDS[r]
            if sid in self.learned_sensitive_sids:
                return group.name or sid
        if group.name and _norm_account(group.name) in self.sensitive_names:
            return group.name
        return None

    def group_for_dn(self, dn: str | None) -> Account | None:
        """The group a DN names: learned from the data, else a well-known default name."""
        if not dn:
            return None
        sid = self.dn_sids.get(dn.lower())
        if sid:
            return Account(cn_of(dn), None, sid)
        return well_known_group(dn, next(iter(self.domain_sids), None))

    def sensitive_account(self, acct: Account | None) -> str | None:
        """Why an account is sensitive (well-known RID, learned membership, tag), else None."""
        if acct is None:
            return None
        if acct.sid:
            r = rid(acct.sid)
            if r in SENSITIVE_USER_RIDS:
                return f"built-in {SENSITIVE_USER_RIDS[r]}"
            if acct.sid in self.learned_sensitive_sids:
                return self.learned_sensitive_sids[acct.sid]
        if acct.name and _norm_account(acct.name) in self.sensitive_names:
            return "tagged sensitive"
        return None

    def lateral_movement_paths(self, acct: Account | None) -> list[str]:
        """Sentences naming the lateral movement paths an account is on (empty without a
        directory): ``hd.admin is on a lateral movement path to Domain Admins via WS2``."""
        if self.lmp is None or acct is None:
            return []
        return self.lmp.evidence_for(acct)

    def is_honeytoken(self, acct: Account | None) -> bool:
        """Whether an account is tagged as a honeytoken."""
        return bool(acct and acct.name and _norm_account(acct.name) in self.honeytokens)

    def entity_rows(self) -> list[dict]:
        """What was learned, as rows for the store's ``entities`` table."""
        rows: list[dict] = []
        ips_of: dict[str, list[str]] = {}
        for ip, m in self.ip_map.items():
            ips_of.setdefault(m.host, []).append(ip)
            rows.append({"kind": "ip", "name": ip, "ips": {"computer": m.host, "method": m.method,
                                                           "certainty": m.certainty},
                         "tags": ["domain-controller"] if ip in self.dc_ips else [],
                         "evidence": self.dc_ips.get(ip), "last_seen": m.seen})
        for ip, why in self.dc_ips.items():
            if ip not in self.ip_map:
                rows.append({"kind": "ip", "name": ip, "tags": ["domain-controller"],
                             "evidence": why})
        tags: list[str]
        for name, h in self.hosts.items():
            status, why = self.dc_status(name)
            tags = ["domain-controller"] if status else (["not-a-dc"] if status is False else [])
            rows.append({"kind": "computer", "name": name, "fqdn": h.fqdn,
                         "ips": sorted(ips_of.get(name, [])), "tags": tags,
                         "evidence": why or None})
        reason: str | None
        for sid, acct in self.sids.items():
            tags = []
            if sid in self.group_sids:
                g = self.sensitive_group(acct)
                rows.append({"kind": "group", "name": str(acct), "sid": sid,
                             "tags": ["sensitive"] if g else [],
                             "evidence": "sensitive group (well-known SID/RID or tagged)" if g
                             else None})
                continue
            reason = self.sensitive_account(acct)
            if reason:
                tags.append("sensitive")
            if self.is_honeytoken(acct):
                tags.append("honeytoken")
            kind = "computer" if acct.is_machine else "user"
            name = acct.name[:-1].upper() if acct.is_machine and acct.name else str(acct)
            rows.append({"kind": kind, "name": name, "sid": sid, "tags": tags,
                         "evidence": reason})
        return rows

    def account_name(self, sid: str | None) -> str | None:
        """A name learned for a SID."""
        a = self.sids.get(sid) if sid else None
        return str(a) if a else None


def _norm_account(name: str) -> str:
    n = name.strip().lower()
    if "\\" in n:
        n = n.split("\\", 1)[1]
    if "@" in n:
        n = n.split("@", 1)[0]
    return n


_WIRE_DC_KINDS = frozenset({K.KERBEROS_AS, K.KERBEROS_TGS, K.LDAP_SEARCH})  # _wire_dc_reason


def _wire_dc_reason(a: Activity) -> str | None:
    if a.kind in (K.KERBEROS_AS, K.KERBEROS_TGS) and a.outcome is not None:
        return "answers Kerberos KDC requests"
    if a.kind is K.LDAP_SEARCH and (a.fields.get("netlogon_flags") or 0) & 0x10:
        return "answers LDAP pings as a directory server (DS_DS_FLAG)"
    # Answering DRSUAPI is not proof: a DCShadow rogue "DC" answers replication calls too.
    return None
