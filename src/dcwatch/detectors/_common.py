"""Helpers shared by several detectors (not a detector: discovery skips ``_`` modules).

* ``NetworkLogons``: the logon sessions a host's own log reveals (4624), with their type and
  source, so that an event carrying ``SubjectLogonId`` can be tied to a remote session even when
  4624 gave no ``IpAddress`` (the resolver only keeps sessions whose source is known).
* RPC helpers: operation names as the DCE/RPC decoder writes them (IDL names, MS-* specs) or as
  other producers shorten them, compared without their interface prefix.
* Well-known identities that never stand for a remote attacker.
* Directory changes: ``ds_change`` normalises 5136, LDAP modify/add on the wire and Samba
  dsdbChange into one ``DsChange`` (object, attributes, values, actor, DC, source);
  ``LdapBinds`` gives wire LDAP operations the identity bound on their connection; SDDL ACEs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from dcwatch.detectors.base import BoundedDict, SlidingWindow
from dcwatch.entities.resolver import Resolver, short
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import EntityRef

K = ActivityKind

# MS-DTYP 2.4.2.4 well-known SIDs; logon IDs of the built-in service sessions (LSA).
ANONYMOUS_SID = "S-1-5-7"
LOCAL_SIDS = frozenset({"S-1-5-18", "S-1-5-19", "S-1-5-20"})  # SYSTEM, LOCAL/NETWORK SERVICE
LOCAL_LOGON_IDS = frozenset({"0x3e7", "0x3e4", "0x3e5"})  # SYSTEM, NETWORK SERVICE, LOCAL SERVICE
NETWORK_LOGON_TYPES = frozenset({3})  # network; 8 (cleartext) is a network logon too, rare
_LOOPBACK = ("127.", "::1", "fe80:")


def is_anonymous(acct: Account | None) -> bool:
    """ANONYMOUS LOGON (S-1-5-7), by SID or by its (English) name when the SID is missing."""
    if acct is None:
        return False
    if acct.sid:
        return acct.sid == ANONYMOUS_SID
    return (acct.name or "").upper() == "ANONYMOUS LOGON"


def is_service_identity(acct: Account | None) -> bool:
    """SYSTEM, LOCAL SERVICE, NETWORK SERVICE or a machine account: never a human operator."""
    if acct is None:
        return False
    if acct.sid in LOCAL_SIDS or acct.is_machine:
        return True
    return (acct.domain or "").upper() == "NT AUTHORITY" and not is_anonymous(acct)


def is_remote_ip(ip: str | None) -> bool:
    """An address that is not loopback or link-local (the host talking to itself)."""
    return bool(ip) and not ip.startswith(_LOOPBACK)  # type: ignore[union-attr]


@dataclass(slots=True)
class Session:
    """One logon session a host's log revealed."""

    host: str
    logon_id: str
    logon_type: int | None
    account: Account | None
    src_ip: str | None
    src_host: str | None
    ts: datetime

    @property
    def network(self) -> bool:
        """A network logon (type 3)."""
        return self.logon_type in NETWORK_LOGON_TYPES


class NetworkLogons:
    """Logon sessions per (host, logon id), and the recent network logons of each host.

    Detectors that feed it every logon and keep the default window share one per engine
    (``Detector.shared``): a DC's log is mostly 4624s, and eight copies learned each of them."""

    # The activity last learned from: sharing detectors each pass it the same activity, and
    # only the first call learns (a class default: older checkpoints load too).
    _last: Activity | None = None

    def __init__(self, window: timedelta = timedelta(minutes=2)) -> None:
        self.sessions: BoundedDict[Session] = BoundedDict(200_000)
        self.recent: BoundedDict[SlidingWindow[Session]] = BoundedDict(10_000)
        self.window = window

    def observe(self, a: Activity) -> None:
        """Learn from a ``logon.success`` activity (others are ignored), once per activity."""
        if a.kind is not K.LOGON or a.protocol != "event" or a is self._last:
            return
        self._last = a
        host = short(a.host)
        lid = a.fields.get("logon_id")
        if not host or not lid:
            return
        s = Session(host, str(lid).lower(), a.fields.get("logon_type"), a.actor, a.src_ip,
                    a.src_host, a.ts)
        self.sessions[f"{host}|{s.logon_id}"] = s
        if s.network and (is_remote_ip(a.src_ip) or a.src_host):
            w = self.recent.get(host)
            if w is None:
                w = SlidingWindow[Session](self.window, 1000)
                self.recent[host] = w
            w.add(a.ts, s)

    def session(self, host: str | None, logon_id: str | None) -> Session | None:
        """The session with this logon id on this host, if its 4624 was seen."""
        h = short(host)
        if not h or not logon_id:
            return None
        return self.sessions.get(f"{h}|{str(logon_id).lower()}")

    def last_remote(self, host: str | None, ts: datetime, account: Account | None = None,
                    users_only: bool = True, anonymous: bool = False) -> Session | None:
        """The latest network logon from another computer to ``host`` within the window."""
        h = short(host)
        w = self.recent.get(h) if h else None
        if w is None:
            return None
        best = None
        for s in w:
            if s.ts > ts + timedelta(seconds=1) or ts - s.ts > self.window:
                continue
            if anonymous != is_anonymous(s.account):
                continue
            if users_only and not anonymous and is_service_identity(s.account):
                continue
            if account is not None and s.account is not None and \
                    (account.name or "").lower() != (s.account.name or "").lower():
                continue
            best = s
        return best

    def source_of(self, host: str | None, logon_id: str | None, ts: datetime,
                  account: Account | None) -> tuple[str | None, str | None]:
        """(IP, workstation) of a network session; fills a missing IP from the same account's
        other network logons to the host at that time (one client opens several sessions)."""
        s = self.session(host, logon_id)
        if s is None:
            return None, None
        ip, ws = s.src_ip, s.src_host
        if not is_remote_ip(ip):
            ip = None
        if ip is None:
            other = self.last_remote(host, ts, account or s.account)
            if other is not None:
                ip = other.src_ip if is_remote_ip(other.src_ip) else None
                ws = ws or other.src_host
        return ip, ws


# --- RPC --------------------------------------------------------------------------------------

_PREFIXES = ("idl_drs", "samr", "lsar", "netr", "drs")


def norm_op(name: str | None) -> str:
    """Operation name without interface prefix, lower case: ``SamrOpenGroup`` -> ``opengroup``."""
    n = (name or "").lower()
    for p in _PREFIXES:
        if n.startswith(p) and len(n) > len(p) + 3:
            return n[len(p):]
    return n


def rpc_op(a: Activity, table: dict[int, str]) -> str:
    """Normalised operation of an ``rpc.call``: its name, else the opnum looked up in ``table``."""
    op = a.fields.get("operation")
    if op and not str(op).startswith("opnum"):
        return norm_op(str(op))
    n = a.fields.get("opnum")
    return norm_op(table.get(n, "")) if isinstance(n, int) else ""


def rpc_args(a: Activity) -> dict[str, Any]:
    """The decoded stub arguments of an ``rpc.call`` (empty when sealed or not decoded)."""
    args = a.fields.get("args")
    return args if isinstance(args, dict) else {}


def is_zero(value: Any) -> bool:
    """An all-zero credential or password however a decoder wrote it (bytes, hex, list)."""
    if value is True:
        return True
    if isinstance(value, (bytes, bytearray)):
        return len(value) > 0 and not any(value)
    if isinstance(value, str):
        v = value.replace(" ", "").replace("-", "").lower()
        v = v[2:] if v.startswith("0x") else v
        return len(v) >= 8 and set(v) == {"0"}
    if isinstance(value, (list, tuple)):
        return len(value) > 0 and all(x == 0 for x in value)
    return False


def rpc_target(a: Activity, resolver: Resolver) -> str | None:
    """The server of a wire call as a name when known (short name), else its IP."""
    if a.dst_host:
        return a.dst_host
    m = resolver.computer_for_ip(a.dst_ip)
    return m.host if m else (a.dst_ip or a.host)


def rpc_source(a: Activity, resolver: Resolver) -> tuple[str | None, str | None]:
    """(IP, computer name) of the client of a wire call."""
    m = resolver.computer_for_ip(a.src_ip)
    return a.src_ip, (a.src_host or (m.host if m else None))


def ip_for_host(resolver: Resolver, host: str | None) -> str | None:
    """An IP learned for a computer name (inverse of the resolver's IP map), if any."""
    h = short(host)
    if not h:
        return None
    for ip, m in resolver.ip_map.items():
        if m.host == h:
            return ip
    return None


def source_key(resolver: Resolver, ip: str | None, host: str | None) -> str:
    """One key per source computer whether the data named it by IP or by name."""
    ip = ip or ip_for_host(resolver, host)
    return (ip or short(host) or "unknown").lower()


def dc_key(host: str | None) -> str:
    """One key per domain controller: its short name (or IP) in lower case."""
    return (short(host) or host or "?").lower()


def cn_of(dn: str | None) -> str | None:
    """The first RDN value of a distinguished name (``CN=Bob,OU=x`` -> ``Bob``)."""
    if not dn or "=" not in dn:
        return None
    first = dn.split(",", 1)[0]
    return first.split("=", 1)[1].replace("\\", "") or None


def display(host: str | None) -> str:
    """Display name of a computer: short upper-case name, or the IP as is."""
    if not host:
        return "an unknown computer"
    return short(host) or host


def host_ref(host: str | None, role: str, ip: str | None = None) -> EntityRef | None:
    """Entity reference of a computer named by name or by IP address."""
    if not host and not ip:
        return None
    if host and not short(host):  # an IP address
        return EntityRef("ip", host, role, ip=host)
    return EntityRef("computer", short(host) or "?", role, ip=ip) if host else \
        EntityRef("ip", ip or "?", role, ip=ip)


# --- directory changes (5136, LDAP modify/add on the wire, Samba dsdbChange) ------------------

# Attributes the DC maintains on every logon: a change to them is no one's decision.
BOOKKEEPING_ATTRS = frozenset({
    "lastlogon", "lastlogontimestamp", "logoncount", "badpwdcount", "badpasswordtime",
    "lastlogoff", "lockouttime", "msds-lastsuccessfulinteractivelogontime",
    "msds-lastfailedinteractivelogontime", "msds-failedinteractivelogoncount", "whenchanged",
    "usnchanged", "dscorepropagationdata", "replpropertymetadata",
})
_DS_KINDS = frozenset({K.DS_MODIFY, K.DS_CREATE})
_OPS = {"value_added": "add", "value_deleted": "delete"}


class LdapBinds:
    """Who bound on each LDAP connection, so that wire searches and modifications get an actor.

    The LDAP decoder emits ``ldap.bind`` with the bound identity and later operations of the
    same TCP connection without one (RFC 4511 4.2: the bind authenticates the connection)."""

    # Shared by the detectors that read it (``Detector.shared``): the activity last learned
    # from, so that each bind is learned once (a class default: older checkpoints load too).
    _last: Activity | None = None

    def __init__(self) -> None:
        self.by_conn: BoundedDict[Account] = BoundedDict(50_000)

    @staticmethod
    def _conn(a: Activity) -> str:
        return f"{a.src_ip}|{a.src_port}|{a.dst_ip}|{a.dst_port}"

    def observe(self, a: Activity) -> None:
        """Learn from an ``ldap.bind`` activity (others are ignored), once per activity."""
        if a.kind is not K.LDAP_BIND or a.outcome == "failure" or a.actor is None or \
                a is self._last:
            return
        self._last = a
        acct = self.split(a.actor)
        if acct.name or acct.sid:
            self.by_conn[self._conn(a)] = acct

    @staticmethod
    def split(acct: Account) -> Account:
        """A bind name as an account: a DN's CN, ``DOMAIN\\user`` or a UPN's two halves."""
        name = acct.name or ""
        if acct.domain:
            return acct
        if "=" in name and "," in name:  # a simple bind names a DN: its CN is the account
            return Account(cn_of(name), acct.domain, acct.sid)
        if "\\" in name:
            dom, _, n = name.partition("\\")
            return Account(n, dom, acct.sid)
        if "@" in name:
            n, _, dom = name.partition("@")
            return Account(n, dom, acct.sid)
        return acct

    def actor(self, a: Activity) -> Account | None:
        """The identity bound on the connection of a wire LDAP activity (the decoder's, named
        like the bind, or the bind's seen on the same connection)."""
        if a.actor is not None:
            return self.split(a.actor)
        return self.by_conn.get(self._conn(a))


def named(resolver: Resolver, acct: Account | None) -> Account | None:
    """An account with its name filled from the SID when the data named it by SID only
    (Samba audit records and some events carry only the SID)."""
    if acct is None or acct.name or not acct.sid:
        return acct
    known = resolver.sids.get(acct.sid)
    return Account(known.name, known.domain, acct.sid) if known else acct


@dataclass(slots=True)
class DsChange:
    """One directory write, whichever source saw it: object, attributes, values, who, where."""

    act: Activity
    dn: str
    ops: dict[str, str]  # lower-case attribute -> add | delete | replace | modify
    values: dict[str, list[str]]  # lower-case attribute -> values, where the source shows them
    names: dict[str, str]  # lower-case attribute -> as written
    created: bool  # the object itself was created (4741-like add)
    actor: Account | None
    dc: str | None
    src_ip: str | None
    src_host: str | None
    object_class: str | None

    @property
    def cn(self) -> str:
        """The object's first RDN value (``CN=alice,...`` -> ``alice``)."""
        return cn_of(self.dn) or self.dn

    @property
    def source(self) -> str:
        """Which data showed it: event, samba or ldap."""
        return self.act.protocol or "event"

    def has(self, attr: str) -> bool:
        """Whether the write touched ``attr``."""
        return attr.lower() in self.ops

    def adds(self, attr: str) -> bool:
        """Whether the write set or added values of ``attr`` (not only removed them)."""
        return self.ops.get(attr.lower()) in ("add", "replace", "modify")

    def meaningful(self) -> list[str]:
        """Attributes written other than the DC's logon bookkeeping, as written."""
        return [self.names[k] for k in self.ops if k not in BOOKKEEPING_ATTRS]


class _DsMemo:
    """The ``DsChange``s of the activity being processed: up to a dozen detectors ask for the
    same one. Valid while the resolver observed nothing else (``Resolver.observed``); the
    binds and logons it read only change with ``ldap.bind``/``logon.success`` activities."""

    activity: Activity | None = None
    resolver: Resolver | None = None
    observed = -1
    changes: dict[tuple[int, int], DsChange | None] = {}  # by (id(binds), id(logons))


_memo = _DsMemo()


def ds_change(a: Activity, resolver: Resolver, binds: LdapBinds | None = None,
              logons: NetworkLogons | None = None) -> DsChange | None:
    """Normalise a ``ds.object_modified``/``ds.object_created`` activity (None for others).
    Callers share the result: treat it as read-only."""
    if a.kind not in _DS_KINDS:
        return None
    m = _memo
    if m.activity is not a or m.resolver is not resolver or m.observed != resolver.observed:
        m.activity, m.resolver, m.observed, m.changes = a, resolver, resolver.observed, {}
    key = (id(binds), id(logons))  # objects of this engine's detectors: alive meanwhile
    if key not in m.changes:
        m.changes[key] = _ds_change(a, resolver, binds, logons)
    return m.changes[key]


def _ds_change(a: Activity, resolver: Resolver, binds: LdapBinds | None,
               logons: NetworkLogons | None) -> DsChange | None:
    f = a.fields
    dn = str(f.get("dn") or (a.target.name if a.target and a.target.name else "") or "")
    if not dn:
        return None
    attrs = [str(x) for x in f.get("attributes") or []]
    rv = f.get("values")
    raw_values: dict[str, Any] = rv if isinstance(rv, dict) else {}
    op_field = str(f.get("operation") or "")
    ops: dict[str, str] = {}
    values: dict[str, list[str]] = {}
    names: dict[str, str] = {}
    per_attr = {str(c.get("attribute", "")).lower(): str(c.get("op", ""))
                for c in f.get("changes") or [] if isinstance(c, dict)}
    for name in attrs:
        low = name.lower()
        names[low] = name
        v = raw_values.get(name)
        # the wire decoder marks binary values it does not show with True
        vals = [v] if isinstance(v, str) else \
            [str(x) for x in v] if isinstance(v, (list, tuple)) else []
        if a.protocol == "samba":  # "action:value" (sources/samba.py)
            acts = {x.split(":", 1)[0] for x in vals if ":" in x}
            vals = [x.split(":", 1)[1] for x in vals if ":" in x]
            op = "delete" if acts == {"delete"} else ("replace" if "replace" in acts else
                                                     "add" if acts else "modify")
        elif low in per_attr:
            op = per_attr[low]
        else:
            op = _OPS.get(op_field, "add" if a.kind is K.DS_CREATE else "modify")
        ops[low] = op
        values[low] = [x for x in vals if x]
    wire = a.protocol not in (None, "event", "samba")
    if wire:
        actor = binds.actor(a) if binds else a.actor
        src_ip, src_host = rpc_source(a, resolver)
    elif a.protocol == "samba":
        actor = named(resolver, a.actor)
        src_ip, src_host = rpc_source(a, resolver)
    else:
        actor = named(resolver, a.actor)
        lid = f.get("logon_id")
        src_ip, src_host = (logons.source_of(a.host, lid, a.ts, actor) if logons
                            else (None, None))
        if src_ip is None and src_host is None:
            src_ip, src_host = resolver.session_source(a.host, lid) or (None, None)
        src_ip = src_ip if is_remote_ip(src_ip) else None
    dc = rpc_target(a, resolver) if wire or a.protocol == "samba" else a.host
    created = a.kind is K.DS_CREATE and (a.protocol != "event" or a.event_id == 5137)
    return DsChange(a, dn, ops, values, names, created, actor, dc, src_ip, src_host,
                    f.get("object_class"))


def actor_text(acct: Account | None, fallback: str = "An unknown user") -> str:
    """``DOMAIN\\name`` of an actor (SID when no name is known), or the fallback."""
    if acct is None or not (acct.name or acct.sid):
        return fallback
    return str(acct)


def same_account(a: Account | None, b: Account | None) -> bool:
    """Two namings of one account: same SID, or same name without domain and trailing ``$``."""
    if a is None or b is None:
        return False
    if a.sid and b.sid:
        return a.sid == b.sid
    def n(x: Account) -> str:
        return (x.name or "").lower().rsplit("\\", 1)[-1].split("@", 1)[0].rstrip("$")
    return bool(n(a)) and n(a) == n(b)


_ACE = re.compile(r"\(([^()]*)\)")


def sddl_aces(sddl: str | None) -> list[str]:
    """The ACE strings of an SDDL security descriptor (MS-DTYP 2.5.1), in order."""
    return _ACE.findall(sddl or "")


def ace_trustee(ace: str) -> str | None:
    """The trustee (SID or SDDL alias) of an ACE string ``type;flags;rights;obj;inh;sid``."""
    parts = ace.split(";")
    return parts[5] if len(parts) >= 6 and parts[5] else None
