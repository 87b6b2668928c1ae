"""What Active Directory says about its principals: a snapshot read over LDAP or from BloodHound.

* ``sync_ldap()`` reads users, computers, groups (``member``, with range retrieval for large
  groups), SIDs, SPNs, userAccountControl, adminCount, trusts and the DN<->SID map with paged
  searches (RFC 2696), over LDAPS, StartTLS or plain LDAP (labs), simple bind or Kerberos
  (SASL GSSAPI, needs a ticket cache). Given the previous snapshot it refreshes incrementally:
  only objects whose ``uSNChanged`` is above the last sync's ``highestCommittedUSN`` are read
  again, and tombstones (show-deleted control) remove deleted objects.
* ``load_bloodhound()`` imports a SharpHound collection (users/computers/groups/domains JSON,
  format v4 and v5), including the local administrators and sessions SharpHound collected.
* ``Snapshot.sensitive()`` expands nested membership (``member`` plus ``primaryGroupID``) of the
  sensitive groups (resolver.SENSITIVE_*); ``apply_to_resolver()`` feeds the resolver: DC list,
  DN->SID, SIDs, sensitive accounts, honeytokens.

No store access here (entities sit upstream of the store): ``dcwatch.store.directory`` persists
a snapshot.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from dcwatch.entities.resolver import (
    SENSITIVE_BUILTIN,
    SENSITIVE_RIDS,
    SENSITIVE_USER_RIDS,
    Resolver,
    rid,
)
from dcwatch.errors import ConfigError, DcwatchError

# userAccountControl bits (MS-ADTS 2.2.16)
UF_ACCOUNTDISABLE = 0x0002
UF_LOCKOUT = 0x0010
UF_PASSWD_NOTREQD = 0x0020
UF_NORMAL_ACCOUNT = 0x0200
UF_WORKSTATION_TRUST_ACCOUNT = 0x1000
UF_SERVER_TRUST_ACCOUNT = 0x2000
UF_DONT_EXPIRE_PASSWD = 0x10000
UF_SMARTCARD_REQUIRED = 0x40000
UF_TRUSTED_FOR_DELEGATION = 0x80000
UF_NOT_DELEGATED = 0x100000
UF_DONT_REQ_PREAUTH = 0x400000
UF_TRUSTED_TO_AUTH_FOR_DELEGATION = 0x1000000
UF_PARTIAL_SECRETS_ACCOUNT = 0x4000000  # RODC
UAC_FLAGS = {
    UF_ACCOUNTDISABLE: "disabled", UF_LOCKOUT: "locked", UF_PASSWD_NOTREQD: "password-not-required",
    UF_DONT_EXPIRE_PASSWD: "password-never-expires", UF_SMARTCARD_REQUIRED: "smartcard-required",
    UF_TRUSTED_FOR_DELEGATION: "unconstrained-delegation", UF_NOT_DELEGATED: "not-delegated",
    UF_DONT_REQ_PREAUTH: "no-preauth", UF_TRUSTED_TO_AUTH_FOR_DELEGATION: "protocol-transition",
    UF_SERVER_TRUST_ACCOUNT: "domain-controller", UF_PARTIAL_SECRETS_ACCOUNT: "read-only-dc",
}

USER_ATTRS = ["objectSid", "sAMAccountName", "distinguishedName", "userAccountControl",
              "adminCount", "servicePrincipalName", "primaryGroupID", "uSNChanged",
              "whenCreated", "description", "mail", "userPrincipalName", "pwdLastSet",
              "lastLogonTimestamp", "objectClass", "dNSHostName", "operatingSystem",
              "memberOf", "isDeleted"]
GROUP_ATTRS = ["objectSid", "sAMAccountName", "distinguishedName", "member", "adminCount",
               "groupType", "uSNChanged", "description", "objectClass", "isDeleted"]
TRUST_ATTRS = ["trustPartner", "flatName", "trustDirection", "trustType", "trustAttributes",
               "securityIdentifier"]
SHOW_DELETED = "1.2.840.113556.1.4.417"  # LDAP_SERVER_SHOW_DELETED_OID (MS-ADTS 3.1.1.3.4.1.14)
PAGE_SIZE = 500


class DirectoryError(DcwatchError):
    """The directory could not be read (connection, bind, search)."""


@dataclass(slots=True)
class DirObject:
    """A user, computer or group as the directory describes it."""

    sid: str
    kind: str  # user | computer | group
    name: str  # sAMAccountName (computers without the trailing $)
    domain: str = ""  # NetBIOS domain name when known, else the DNS name
    dn: str = ""
    uac: int | None = None
    admin_count: bool = False
    spns: list[str] = field(default_factory=list)
    primary_group: str | None = None  # SID of primaryGroupID
    dns_name: str | None = None
    os: str | None = None
    description: str | None = None
    usn: int = 0
    tags: list[str] = field(default_factory=list)  # honeytoken, sensitive (manual) ...

    @property
    def qualified(self) -> str:
        """``DOMAIN\\name`` for users and groups, the short upper-case name for computers."""
        if self.kind == "computer":
            return self.name.upper()
        return f"{self.domain}\\{self.name}" if self.domain else self.name

    @property
    def enabled(self) -> bool:
        return not (self.uac or 0) & UF_ACCOUNTDISABLE

    def flags(self) -> list[str]:
        """userAccountControl flags by name."""
        u = self.uac or 0
        return [n for bit, n in UAC_FLAGS.items() if u & bit]

    @property
    def is_dc(self) -> bool:
        r = rid(self.primary_group)
        return self.kind == "computer" and (bool((self.uac or 0) & UF_SERVER_TRUST_ACCOUNT)
                                            or r in (516, 521))


@dataclass(slots=True)
class Snapshot:
    """Directory knowledge: objects by SID, group members, local admins, sessions, trusts."""

    domain: str = ""  # DNS name
    netbios: str = ""
    domain_sid: str = ""
    objects: dict[str, DirObject] = field(default_factory=dict)
    members: dict[str, set[str]] = field(default_factory=dict)  # group SID -> member SIDs
    local_admins: dict[str, set[str]] = field(default_factory=dict)  # COMPUTER -> principal SIDs
    # (user SID, COMPUTER, ISO time, how)
    sessions: list[tuple[str, str, str, str]] = field(default_factory=list)
    trusts: list[dict[str, Any]] = field(default_factory=list)
    highest_usn: int = 0
    source: str = ""
    synced_at: str = ""

    # --- lookups ------------------------------------------------------------------------------

    def dn_sid(self) -> dict[str, str]:
        """Lower-case DN -> SID."""
        return {o.dn.lower(): o.sid for o in self.objects.values() if o.dn}

    def by_name(self, name: str) -> DirObject | None:
        """Find an object by sAMAccountName, DOMAIN\\name, name@domain, SID or computer name."""
        n = name.strip()
        if n.upper().startswith("S-1-"):
            return self.objects.get(n.upper())
        low = n.lower()
        if "\\" in low:
            low = low.split("\\", 1)[1]
        if "@" in low:
            low = low.split("@", 1)[0]
        for o in self.objects.values():
            if o.name.lower() == low or (o.kind == "computer" and o.name.lower() + "$" == low):
                return o
        return None

    def groups_of(self, sid: str) -> set[str]:
        """Direct groups of a principal (``member`` and ``primaryGroupID``)."""
        out = {g for g, ms in self.members.items() if sid in ms}
        o = self.objects.get(sid)
        if o is not None and o.primary_group:
            out.add(o.primary_group)
        return out

    def member_index(self) -> dict[str, set[str]]:
        """Principal SID -> direct group SIDs (including the primary group)."""
        idx: dict[str, set[str]] = {}
        for g, ms in self.members.items():
            for m in ms:
                idx.setdefault(m, set()).add(g)
        for o in self.objects.values():
            if o.primary_group:
                idx.setdefault(o.sid, set()).add(o.primary_group)
        return idx

    def recursive_members(self, group: str) -> set[str]:
        """Every principal inside a group, through nested groups and primary groups."""
        primary: dict[str, set[str]] = {}
        for o in self.objects.values():
            if o.primary_group:
                primary.setdefault(o.primary_group, set()).add(o.sid)
        seen: set[str] = set()
        todo = [group]
        while todo:
            g = todo.pop()
            for m in self.members.get(g, set()) | primary.get(g, set()):
                if m not in seen:
                    seen.add(m)
                    todo.append(m)
        seen.discard(group)
        return seen

    def recursive_groups(self, sid: str) -> set[str]:
        """Every group a principal belongs to, directly or through nesting."""
        idx = self.member_index()
        seen: set[str] = set()
        todo = [sid]
        while todo:
            for g in idx.get(todo.pop(), ()):
                if g not in seen:
                    seen.add(g)
                    todo.append(g)
        return seen

    def sensitive_groups(self) -> dict[str, str]:
        """SID -> name of every sensitive group present (well-known SID/RID, or tagged)."""
        out: dict[str, str] = {}
        for o in self.objects.values():
            if o.kind != "group":
                continue
            if o.sid in SENSITIVE_BUILTIN:
                out[o.sid] = o.name or SENSITIVE_BUILTIN[o.sid]
            elif rid(o.sid) in SENSITIVE_RIDS and o.sid.startswith("S-1-5-21-"):
                out[o.sid] = o.name or SENSITIVE_RIDS[rid(o.sid)]  # type: ignore[index]
            elif "sensitive" in o.tags:
                out[o.sid] = o.name
        return out

    def sensitive(self) -> dict[str, str]:
        """SID -> why, for every sensitive principal (members of sensitive groups, recursive)."""
        out: dict[str, str] = {}
        groups = self.sensitive_groups()
        for gsid, gname in sorted(groups.items(), key=lambda kv: _group_rank(kv[0])):
            out.setdefault(gsid, "sensitive group")
            for m in self.recursive_members(gsid):
                out.setdefault(m, f"member of {gname}")
        for o in self.objects.values():
            r = rid(o.sid)
            if o.kind == "user" and r in SENSITIVE_USER_RIDS:
                out.setdefault(o.sid, f"built-in {SENSITIVE_USER_RIDS[r]}")  # type: ignore[index]
            if "sensitive" in o.tags:
                out.setdefault(o.sid, "tagged sensitive")
            if o.is_dc:
                out.setdefault(o.sid, "domain controller")
        return out

    def domain_controllers(self) -> list[DirObject]:
        return [o for o in self.objects.values() if o.is_dc]

    # --- merging and serialization -----------------------------------------------------------

    def merge(self, newer: Snapshot, deleted: Iterable[str] = ()) -> Snapshot:
        """Apply an incremental read (changed objects, their groups, tombstones) to this one."""
        for sid in deleted:
            self.objects.pop(sid, None)
            self.members.pop(sid, None)
            for ms in self.members.values():
                ms.discard(sid)
        for sid, o in newer.objects.items():
            old = self.objects.get(sid)
            if old is not None:
                o.tags = list(dict.fromkeys(old.tags + o.tags))
            self.objects[sid] = o
        self.members.update(newer.members)
        for c, admins in newer.local_admins.items():
            self.local_admins[c] = admins
        self.sessions.extend(newer.sessions)
        if newer.trusts:
            self.trusts = newer.trusts
        self.highest_usn = max(self.highest_usn, newer.highest_usn)
        self.domain = newer.domain or self.domain
        self.netbios = newer.netbios or self.netbios
        self.domain_sid = newer.domain_sid or self.domain_sid
        self.synced_at = newer.synced_at or self.synced_at
        return self

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the store keeps it; tests compare it)."""
        return {
            "domain": self.domain, "netbios": self.netbios, "domain_sid": self.domain_sid,
            "objects": [asdict(o) for o in self.objects.values()],
            "members": {g: sorted(ms) for g, ms in self.members.items()},
            "local_admins": {c: sorted(a) for c, a in self.local_admins.items()},
            "sessions": [list(s) for s in self.sessions], "trusts": self.trusts,
            "highest_usn": self.highest_usn, "source": self.source, "synced_at": self.synced_at,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Snapshot:
        """Inverse of :meth:`to_dict`."""
        s = cls(d.get("domain", ""), d.get("netbios", ""), d.get("domain_sid", ""))
        for o in d.get("objects", []):
            s.objects[o["sid"]] = DirObject(**o)
        s.members = {g: set(ms) for g, ms in d.get("members", {}).items()}
        s.local_admins = {c: set(a) for c, a in d.get("local_admins", {}).items()}
        s.sessions = [tuple(x) for x in d.get("sessions", [])]  # type: ignore[misc]
        s.trusts = d.get("trusts", [])
        s.highest_usn = int(d.get("highest_usn", 0))
        s.source = d.get("source", "")
        s.synced_at = d.get("synced_at", "")
        return s

    def entity_rows(self, honeytokens: Iterable[str] = ()) -> list[dict[str, Any]]:
        """Rows for the store's ``entities`` table: one per user, computer and group."""
        sens = self.sensitive()
        honey = {h.strip().lower().rsplit("\\", 1)[-1] for h in honeytokens}
        rows = []
        for o in self.objects.values():
            tags = []
            if o.sid in sens:
                tags.append("sensitive")
            if "honeytoken" in o.tags or o.name.lower() in honey:
                tags.append("honeytoken")
            if o.is_dc:
                tags.append("domain-controller")
            if not o.enabled:
                tags.append("disabled")
            if (o.uac or 0) & UF_LOCKOUT:
                tags.append("locked")
            if o.kind == "user" and o.sid in sens and sens[o.sid].startswith("member of"):
                tags.append("admin")
            rows.append({"kind": o.kind, "name": o.qualified, "sid": o.sid,
                         "fqdn": o.dns_name.lower() if o.dns_name else None,
                         "tags": tags, "evidence": sens.get(o.sid)})
        return rows


def _group_rank(sid: str) -> int:
    # Report the most telling group first (Domain Admins before Administrators).
    order = [512, 519, 518, 516, 521, 498, 526, 527, 520]
    r = rid(sid)
    return order.index(r) if r in order else 100


def apply_to_resolver(resolver: Resolver, snap: Snapshot,
                      honeytokens: Iterable[str] = ()) -> None:
    """Feed a snapshot into the resolver: DCs, SIDs, DN->SID, sensitive accounts, honeytokens."""
    from dcwatch.model.activity import Account

    for dc in snap.domain_controllers():
        resolver.mark_dc(dc.dns_name or dc.name, "directory: domain controller account")
    if snap.domain_sid and len(resolver.domain_sids) < 64:
        resolver.domain_sids.add(snap.domain_sid)
    for o in snap.objects.values():
        name = o.name + "$" if o.kind == "computer" else o.name
        if o.sid not in resolver.sids and len(resolver.sids) < 500_000:
            resolver.sids[o.sid] = Account(name, snap.netbios or snap.domain or None, o.sid)
        if o.kind == "group":
            resolver.group_sids.add(o.sid)
        if o.dn and len(resolver.dn_sids) < 500_000:
            resolver.dn_sids[o.dn.lower()] = o.sid
        if "honeytoken" in o.tags:
            resolver.honeytokens.add(o.name.lower())
    for sid, why in snap.sensitive().items():
        resolver.learned_sensitive_sids.setdefault(sid, f"directory: {why}")
    for h in honeytokens:
        resolver.honeytokens.add(h.strip().lower().rsplit("\\", 1)[-1])


# --- LDAP ---------------------------------------------------------------------------------------


def sid_text(value: Any) -> str | None:
    """objectSid (binary, MS-DTYP 2.4.2.2) or an already formatted SID, as ``S-1-...``."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.upper() if value.upper().startswith("S-1-") else None
    b = bytes(value)
    if len(b) < 8 or b[0] != 1 or len(b) < 8 + 4 * b[1]:
        return None
    auth = int.from_bytes(b[2:8], "big")
    subs = [str(int.from_bytes(b[8 + 4 * i: 12 + 4 * i], "little")) for i in range(b[1])]
    return "S-1-" + "-".join([str(auth), *subs])


def sid_bytes(sid: str) -> bytes:
    """Binary form of a SID string (for mock directories and LDAP filters)."""
    parts = sid.split("-")
    subs = [int(x) for x in parts[3:]]
    return (bytes([1, len(subs)]) + int(parts[2]).to_bytes(6, "big")
            + b"".join(s.to_bytes(4, "little") for s in subs))


def _first(entry: dict[str, Any], name: str) -> Any:
    v = entry.get(name)
    if isinstance(v, list):
        return v[0] if v else None
    return v


def _text(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return str(v)


def _int(v: Any) -> int | None:
    t = _text(v)
    try:
        return int(t) if t not in (None, "") else None  # type: ignore[arg-type]
    except ValueError:
        return None


def _list(entry: dict[str, Any], name: str) -> list[str]:
    v = entry.get(name)
    if v is None:
        return []
    vals = v if isinstance(v, list) else [v]
    return [t for t in (_text(x) for x in vals) if t]


@dataclass(slots=True)
class LdapTarget:
    """Where and how to bind: ``ldap://host`` (plain or StartTLS) or ``ldaps://host``."""

    server: str
    bind: str | None = None  # user@domain, DOMAIN\\user or a DN; None with kerberos
    password: str | None = None
    base: str | None = None  # default: the rootDSE's defaultNamingContext
    start_tls: bool = False
    kerberos: bool = False
    verify_tls: bool = True
    ca_file: str | None = None
    timeout: float = 15.0


def connect(t: LdapTarget, client_strategy: str = "SYNC", server: Any = None) -> Any:
    """An ldap3 connection, bound (simple, or SASL GSSAPI with ``kerberos``)."""
    import ssl

    import ldap3
    from ldap3.core.exceptions import LDAPException

    if server is None:
        tls = None
        if t.server.startswith("ldaps://") or t.start_tls:
            tls = ldap3.Tls(validate=ssl.CERT_REQUIRED if t.verify_tls else ssl.CERT_NONE,
                            ca_certs_file=t.ca_file)
        server = ldap3.Server(t.server, use_ssl=t.server.startswith("ldaps://"), tls=tls,
                              get_info=ldap3.NONE, connect_timeout=int(t.timeout))
    try:
        if t.kerberos:
            conn = ldap3.Connection(server, authentication=ldap3.SASL,
                                    sasl_mechanism=ldap3.KERBEROS, client_strategy=client_strategy,
                                    receive_timeout=int(t.timeout), raise_exceptions=False)
        else:
            if not t.bind:
                raise ConfigError("a bind account (--bind) is needed without --kerberos")
            auth = ldap3.NTLM if ("\\" in t.bind and client_strategy == "SYNC"
                                  and os.environ.get("DCW_LDAP_NTLM")) else ldap3.SIMPLE
            conn = ldap3.Connection(server, user=t.bind, password=t.password or "",
                                    authentication=auth, client_strategy=client_strategy,
                                    receive_timeout=int(t.timeout), raise_exceptions=False)
        if client_strategy == "SYNC":
            conn.open()
            if t.start_tls and not t.server.startswith("ldaps://") and not conn.start_tls():
                raise DirectoryError(f"StartTLS with {t.server} failed: {conn.result}")
        if not conn.bind():
            desc = (conn.result or {}).get("description", "")
            msg = (conn.result or {}).get("message", "")
            raise DirectoryError(f"bind to {t.server} as {t.bind or 'kerberos'} failed: "
                                 f"{desc} {msg}".strip())
    except LDAPException as e:
        raise DirectoryError(f"{t.server}: {e.__class__.__name__}: {e}") from None
    return conn


def _search(conn: Any, base: str, flt: str, attrs: list[str], controls: Any = None,
            scope: str = "SUBTREE") -> Iterator[tuple[str, dict[str, Any]]]:
    """Paged search (RFC 2696): (dn, raw attributes) of every entry."""
    import ldap3
    from ldap3.core.exceptions import LDAPException
    from ldap3.protocol.rfc2696 import paged_search_control

    cookie: Any = None
    while True:
        ctl = list(controls or [])
        if scope != "BASE":
            ctl.insert(0, paged_search_control(False, PAGE_SIZE, cookie))
        try:
            ok = conn.search(base, flt, search_scope=getattr(ldap3, scope), attributes=attrs,
                             controls=ctl or None)
        except LDAPException as e:
            if base == "":
                return  # no rootDSE (ldap3's mock directories): the caller gives --base
            raise DirectoryError(f"search {flt} under {base}: {e}") from None
        if not ok and (conn.result or {}).get("result") not in (0, 4):
            if (conn.result or {}).get("result") == 32:  # noSuchObject
                return
            raise DirectoryError(f"search {flt} under {base} failed: "
                                 f"{conn.result.get('description')} "
                                 f"{conn.result.get('message', '')}".strip())
        for entry in conn.response or []:
            if entry.get("type") != "searchResEntry":
                continue
            raw = entry.get("raw_attributes") or {}
            yield entry["dn"], {k: raw[k] for k in raw} or dict(entry.get("attributes") or {})
        ctrls = (conn.result or {}).get("controls") or {}
        cookie = (ctrls.get("1.2.840.113556.1.4.319") or {}).get("value", {}).get("cookie")
        if not cookie:
            return


def _ci(d: dict[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in d.items()}


def _members_ranged(conn: Any, dn: str, first: list[str], raw: dict[str, Any]) -> list[str]:
    """All ``member`` values, following range retrieval (``member;range=0-1499``)."""
    out = list(first)
    rng = next((k for k in raw if k.lower().startswith("member;range=")), None)
    while rng is not None:
        out += _list(raw, rng)
        hi = rng.split("-")[-1]
        if hi == "*":
            break
        attr = f"member;range={int(hi) + 1}-*"
        ok = conn.search(dn, "(objectClass=*)", search_scope="BASE", attributes=[attr])
        if not ok or not conn.response:
            break
        raw = conn.response[0].get("raw_attributes") or {}
        rng = next((k for k in raw if k.lower().startswith("member;range=")), None)
    return out


def read_directory(conn: Any, base: str | None = None, since_usn: int = 0,
                   source: str = "") -> tuple[Snapshot, set[str]]:
    """Read the directory over a bound connection; returns (snapshot, deleted SIDs).

    With ``since_usn`` only objects changed after that USN are read (plus tombstones)."""
    root = {}
    for _dn, attrs in _search(conn, "", "(objectClass=*)",
                              ["defaultNamingContext", "highestCommittedUSN",
                               "dnsHostName", "rootDomainNamingContext"], scope="BASE"):
        root = _ci(attrs)
        break
    base = base or _text(_first(root, "defaultnamingcontext"))
    if not base:
        raise DirectoryError("the server's rootDSE names no defaultNamingContext; give --base")
    snap = Snapshot(source=source, synced_at=datetime.now(UTC).isoformat())
    snap.highest_usn = _int(_first(root, "highestcommittedusn")) or 0
    snap.domain = ".".join(p.split("=", 1)[1] for p in base.split(",")
                           if p.strip().lower().startswith("dc=")).lower()
    for _dn, attrs in _search(conn, base, "(objectClass=domain)", ["objectSid", "name"],
                              scope="BASE"):
        snap.domain_sid = sid_text(_first(_ci(attrs), "objectsid")) or ""
    netbios = _netbios(conn, base, snap.domain)
    snap.netbios = netbios or snap.domain.split(".")[0].upper()
    usn = f"(uSNChanged>={since_usn + 1})" if since_usn else ""
    flt = f"(&(|(objectClass=user)(objectClass=group)(objectClass=computer)){usn})"
    for dn, attrs in _search(conn, base, flt, sorted(set(USER_ATTRS) | set(GROUP_ATTRS))):
        o = _object(dn, _ci(attrs), snap)
        if o is None:
            continue
        snap.objects[o.sid] = o
        if o.kind == "group":
            raw = _ci(attrs)
            snap.members[o.sid] = set(_members_ranged(conn, dn, _list(raw, "member"), attrs))
    # builtin groups live under CN=Builtin (inside base): their members are DNs; map to SIDs
    # once every object is known (or known from the previous snapshot, merged by the caller)
    snap.trusts = [_trust(_ci(a)) for _dn, a in _search(conn, f"CN=System,{base}",
                                                         "(objectClass=trustedDomain)",
                                                         TRUST_ATTRS)]
    deleted: set[str] = set()
    if since_usn:
        from ldap3.core.exceptions import LDAPException
        from ldap3.protocol.controls import build_control
        from pyasn1.error import PyAsn1Error

        try:

            ctl = [build_control(SHOW_DELETED, True, None)]
            for _dn, attrs in _search(conn, base, f"(&(isDeleted=TRUE){usn})",
                                      ["objectSid"], controls=ctl):
                sid = sid_text(_first(_ci(attrs), "objectsid"))
                if sid:
                    deleted.add(sid)
        except (DirectoryError, LDAPException, PyAsn1Error):
            pass  # the server refuses show-deleted: deletions wait for a full sync
    return snap, deleted


def resolve_member_dns(snap: Snapshot) -> None:
    """Turn ``member`` DNs into SIDs (members outside the snapshot keep a ``DN:`` marker)."""
    dn_sid = snap.dn_sid()
    for g, ms in snap.members.items():
        out = set()
        for m in ms:
            if m.upper().startswith("S-1-"):
                out.add(m)
                continue
            sid = dn_sid.get(m.lower())
            if sid is None and m.upper().startswith("CN=S-1-"):  # foreign security principal
                sid = m[3:].split(",", 1)[0].upper()
            out.add(sid or f"DN:{m}")
        snap.members[g] = out


def _netbios(conn: Any, base: str, dns: str) -> str | None:
    cfg = None
    for _dn, attrs in _search(conn, "", "(objectClass=*)", ["configurationNamingContext"],
                              scope="BASE"):
        cfg = _text(_first(_ci(attrs), "configurationnamingcontext"))
    if not cfg:
        return None
    for _dn, attrs in _search(conn, f"CN=Partitions,{cfg}",
                              f"(&(objectClass=crossRef)(nCName={base}))", ["nETBIOSName"]):
        return _text(_first(_ci(attrs), "netbiosname"))
    return None


def _object(dn: str, a: dict[str, Any], snap: Snapshot) -> DirObject | None:
    sid = sid_text(_first(a, "objectsid"))
    sam = _text(_first(a, "samaccountname"))
    if not sid or not sam:
        return None
    classes = {c.lower() for c in _list(a, "objectclass")}
    kind = "computer" if "computer" in classes else "group" if "group" in classes else "user"
    if kind == "computer" and sam.endswith("$"):
        sam = sam[:-1]
    pg = _int(_first(a, "primarygroupid"))
    dom_sid = sid.rsplit("-", 1)[0] if sid.startswith("S-1-5-21-") else snap.domain_sid
    if sid.startswith("S-1-5-21-") and not snap.domain_sid:
        snap.domain_sid = dom_sid
    domain = "BUILTIN" if sid.startswith("S-1-5-32-") else snap.netbios or snap.domain
    return DirObject(
        sid=sid, kind=kind, name=sam, domain=domain, dn=dn,
        uac=_int(_first(a, "useraccountcontrol")),
        admin_count=(_int(_first(a, "admincount")) or 0) > 0,
        spns=_list(a, "serviceprincipalname"),
        primary_group=f"{dom_sid}-{pg}" if pg and dom_sid else None,
        dns_name=_text(_first(a, "dnshostname")), os=_text(_first(a, "operatingsystem")),
        description=_text(_first(a, "description")), usn=_int(_first(a, "usnchanged")) or 0)


def _trust(a: dict[str, Any]) -> dict[str, Any]:
    direction = {0: "disabled", 1: "inbound", 2: "outbound", 3: "bidirectional"}
    return {"partner": _text(_first(a, "trustpartner")), "flat_name": _text(_first(a, "flatname")),
            "direction": direction.get(_int(_first(a, "trustdirection")) or 0, "?"),
            "type": _int(_first(a, "trusttype")), "attributes": _int(_first(a, "trustattributes")),
            "sid": sid_text(_first(a, "securityidentifier"))}


def sync_ldap(target: LdapTarget, previous: Snapshot | None = None,
              conn: Any = None) -> tuple[Snapshot, dict[str, int]]:
    """Read (or incrementally refresh) a snapshot; returns it and counters."""
    own = conn is None
    conn = conn or connect(target)
    try:
        since = previous.highest_usn if previous is not None else 0
        fresh, deleted = read_directory(conn, target.base, since, source=target.server)
    finally:
        if own:
            conn.unbind()
    stats = {"read": len(fresh.objects), "deleted": len(deleted),
             "incremental": int(previous is not None and since > 0)}
    snap = previous.merge(fresh, deleted) if previous is not None and since else fresh
    resolve_member_dns(snap)
    stats["objects"] = len(snap.objects)
    return snap, stats


# --- BloodHound / SharpHound ---------------------------------------------------------------------


def _bh_sid(v: str | None) -> str | None:
    if not v:
        return None
    v = v.upper()
    i = v.find("S-1-")
    return v[i:] if i >= 0 else None  # CONTOSO.LOCAL-S-1-5-32-544 -> S-1-5-32-544


def _bh_files(paths: Iterable[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    for p in paths:
        if os.path.isdir(p):
            yield from _bh_files(sorted(os.path.join(p, f) for f in os.listdir(p)
                                        if f.endswith((".json", ".zip"))))
        elif p.endswith(".zip"):
            with zipfile.ZipFile(p) as z:
                for n in z.namelist():
                    if n.endswith(".json"):
                        yield n, json.loads(z.read(n))
        else:
            with open(p, encoding="utf-8-sig") as f:
                yield p, json.load(f)


def load_bloodhound(paths: Iterable[str], collected_at: datetime | None = None) -> Snapshot:
    """Import a SharpHound collection (v4 or v5 JSON, files, folders or the zip)."""
    snap = Snapshot(source="bloodhound")
    when = (collected_at or datetime.now(UTC)).isoformat()
    docs = list(_bh_files(paths))
    if not docs:
        raise ConfigError("no BloodHound JSON files found")
    for name, doc in docs:
        kind = ((doc.get("meta") or {}).get("type") or os.path.basename(name).split(".")[0]
                ).lower().rstrip("s")
        for item in doc.get("data") or []:
            _bh_item(snap, kind, item, when)
    # NetBIOS name: the domain of a DOMAIN\\name or the first label of the DNS name
    if not snap.netbios and snap.domain:
        snap.netbios = snap.domain.split(".")[0].upper()
    for o in snap.objects.values():
        if o.domain.lower() == snap.domain.lower() and snap.netbios:
            o.domain = snap.netbios
    snap.synced_at = when
    return snap


def _bh_item(snap: Snapshot, kind: str, item: dict[str, Any], when: str) -> None:
    props = item.get("Properties") or {}
    sid = _bh_sid(item.get("ObjectIdentifier"))
    if kind == "domain":
        snap.domain = (props.get("name") or props.get("domain") or "").lower()
        snap.domain_sid = sid or snap.domain_sid
        for t in item.get("Trusts") or []:
            snap.trusts.append({"partner": t.get("TargetDomainName"),
                                "sid": t.get("TargetDomainSid"),
                                "direction": str(t.get("TrustDirection")).lower(),
                                "type": t.get("TrustType"), "attributes": None,
                                "flat_name": None})
        return
    if sid is None or kind not in ("user", "computer", "group"):
        return
    dom = (props.get("domain") or "").lower()
    if dom and not snap.domain:
        snap.domain = dom
    full = props.get("name") or ""
    sam = props.get("samaccountname") or full.split("@", 1)[0].split(".", 1)[0]
    if kind == "computer" and sam.endswith("$"):
        sam = sam[:-1]
    if kind == "computer" and not props.get("samaccountname"):
        sam = full.split(".", 1)[0]
    uac = 0
    if props.get("enabled") is False:
        uac |= UF_ACCOUNTDISABLE
    if props.get("dontreqpreauth"):
        uac |= UF_DONT_REQ_PREAUTH
    if props.get("pwdneverexpires"):
        uac |= UF_DONT_EXPIRE_PASSWD
    if props.get("unconstraineddelegation"):
        uac |= UF_TRUSTED_FOR_DELEGATION
    if props.get("passwordnotreqd"):
        uac |= UF_PASSWD_NOTREQD
    pg = _bh_sid(item.get("PrimaryGroupSID") or item.get("PrimaryGroupSid"))
    if kind == "computer" and pg and rid(pg) in (516, 521):
        uac |= UF_SERVER_TRUST_ACCOUNT
    tags = []
    if props.get("sensitive") is True and kind == "group":
        tags.append("sensitive")
    o = DirObject(sid=sid, kind=kind, name=sam,
                  domain="BUILTIN" if sid.startswith("S-1-5-32-") else dom.upper(),
                  dn=props.get("distinguishedname") or "", uac=uac if kind != "group" else None,
                  admin_count=bool(props.get("admincount")),
                  spns=list(props.get("serviceprincipalnames") or []), primary_group=pg,
                  dns_name=full.lower() if kind == "computer" and "." in full else None,
                  os=props.get("operatingsystem"), description=props.get("description"),
                  tags=tags)
    snap.objects[sid] = o
    if sid.startswith("S-1-5-21-") and not snap.domain_sid:
        snap.domain_sid = sid.rsplit("-", 1)[0]
    if kind == "group":
        snap.members[sid] = {m for m in (_bh_sid(x.get("ObjectIdentifier") or x.get("MemberId"))
                                         for x in item.get("Members") or []) if m}
    if kind == "computer":
        admins = _bh_results(item.get("LocalAdmins"))
        if admins is not None:
            snap.local_admins[o.name.upper()] = {
                m for m in (_bh_sid(x.get("ObjectIdentifier") or x.get("MemberId"))
                            for x in admins) if m}
        for key, how in (("Sessions", "bloodhound session"),
                         ("PrivilegedSessions", "bloodhound privileged session"),
                         ("RegistrySessions", "bloodhound registry session")):
            for s in _bh_results(item.get(key)) or []:
                user = _bh_sid(s.get("UserSID") or s.get("UserId"))
                if user:
                    snap.sessions.append((user, o.name.upper(), when, how))


def _bh_results(v: Any) -> list[dict[str, Any]] | None:
    if v is None:
        return None
    if isinstance(v, dict):  # v5: {"Results": [...], "Collected": true}
        if v.get("Collected") is False and not v.get("Results"):
            return None
        return list(v.get("Results") or [])
    return list(v)
