"""Lateral movement paths (product.md section 5): how a non-sensitive account reaches the
credentials of a sensitive one.

The graph (networkx ``DiGraph``; an edge points the way an attacker moves):

* ``member of``      principal -> group (group membership, from the directory, recursive by
  walking the chain);
* ``admin on``       principal -> computer (local administrators: BloodHound ``LocalAdmins``,
  event 4732 on a member server, or configured);
* ``logged into by`` computer -> user (the user's credentials are on that computer): a TGT
  requested from the computer (Kerberos AS, wire or 4768), an interactive or RDP logon (4624
  types 2/10/11, and network logons with delegated credentials), a service ticket for host/,
  cifs/ or TERMSRV/ of the computer, an SMB session from it, NetrSessionEnum results, or
  BloodHound sessions. Sessions older than ``retention`` (48 h, as MDI draws) are left out.

A path: non-sensitive account -> admin on X -> sensitive user logged on at X -> ... A path only
counts when it crosses at least one computer (membership alone is not lateral movement).
``LateralMovement.evidence_for(account)`` is what credential-theft alerts quote;
``exposed_accounts()`` is the report (one SCC condensation plus reachability bitsets, so a
50k-account / 20k-computer domain takes seconds, see bench/lmp_paths.py).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import networkx as nx
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape
from itertools import pairwise
from typing import Any

from dcwatch.entities.directory import DirObject, Snapshot
from dcwatch.entities.resolver import Resolver, short
from dcwatch.model.activity import Account, Activity, ActivityKind
from dcwatch.model.alert import Alert, EntityRef

K = ActivityKind
RETENTION = timedelta(hours=48)
MEMBER, ADMIN, SESSION = "member of", "admin on", "logged into by"
INTERACTIVE_TYPES = {2: "interactive", 10: "remote desktop", 11: "cached interactive"}
SESSION_SERVICES = ("host", "cifs", "termsrv")
ADMINS_ALIAS = "S-1-5-32-544"
# credential-theft alerts whose accounts get lateral-movement evidence
CREDENTIAL_THEFT = {2002, 2008, 2017, 2018, 2010, 2032, 2009, 2013, 2022, 2027}


@dataclass(frozen=True, slots=True)
class SessionRecord:
    """A user's credentials seen on a computer."""

    account: str  # SID, or DOMAIN\\name when the data gave no SID
    computer: str  # short name, or the IP address when unresolved
    ts: datetime
    how: str


class SessionTracker:
    """Learns sessions and local administrators from the activity stream (bounded memory)."""

    def __init__(self, resolver: Resolver | None = None, cap: int = 500_000) -> None:
        self.resolver = resolver
        self.cap = cap
        self.sessions: dict[tuple[str, str, str], SessionRecord] = {}
        self.local_admins: dict[str, set[str]] = {}
        self.latest: datetime | None = None

    def observe(self, a: Activity) -> None:
        """Learn from one activity."""
        if self.latest is None or a.ts > self.latest:
            self.latest = a.ts
        k = a.kind
        if k is K.LOGON and a.outcome != "failure":
            lt = a.fields.get("logon_type")
            if lt in INTERACTIVE_TYPES or (lt == 3 and a.fields.get("delegated")):
                how = f"{INTERACTIVE_TYPES.get(lt, 'delegated network')} logon (4624 type {lt})"
                self._add(a.actor, short(a.host), a.ts, how)
        elif k is K.KERBEROS_AS and a.outcome == "success" and a.src_ip:
            self._add(a.actor, self._computer(a.src_ip), a.ts, "TGT requested from it")
        elif k is K.KERBEROS_TGS and a.outcome == "success":
            svc = (a.fields.get("service") or a.fields.get("sname") or "")
            cls, _, rest = svc.partition("/")
            if cls.lower() in SESSION_SERVICES and rest:
                host = short(rest.split("/", 1)[0].split(":", 1)[0])
                self._add(a.actor, host, a.ts, f"service ticket for {cls}/")
        elif k is K.SMB_SESSION and a.outcome == "success" and a.src_ip:
            self._add(a.actor, self._computer(a.src_ip), a.ts, "SMB session from it")
        elif k is K.RPC_CALL and a.fields.get("operation") == "NetrSessionEnum":
            for s in (a.fields.get("args") or {}).get("sessions") or []:
                user, client = s.get("user"), s.get("client")
                if user and client:
                    dom, _, name = user.rpartition("\\")
                    self._add(Account(name, dom or None), self._computer(client.strip("\\")),
                              a.ts, "NetrSessionEnum result")
        elif k is K.GROUP_MEMBER_ADDED and (a.target and a.target.sid) == ADMINS_ALIAS:
            member = a.fields.get("member_sid")
            host = short(a.host)
            if member and host and self.resolver is not None and \
                    self.resolver.dc_status(host)[0] is not True:
                self.local_admins.setdefault(host, set()).add(member)

    def _computer(self, ip: str) -> str | None:
        if self.resolver is not None:
            m = self.resolver.computer_for_ip(ip)
            if m is not None:
                return m.host
        return ip

    def _add(self, acct: Account | None, computer: str | None, ts: datetime, how: str) -> None:
        if acct is None or not computer or acct.is_machine or not (acct.sid or acct.name):
            return
        name = acct.name or ""
        if name.lower() in ("anonymous logon", "-", "") and not acct.sid:
            return
        who = acct.sid or (f"{acct.domain}\\{name}" if acct.domain else name)
        key = (who.lower(), computer.upper(), how)
        if key not in self.sessions and len(self.sessions) >= self.cap:
            self.sessions.pop(next(iter(self.sessions)))
        self.sessions[key] = SessionRecord(who, computer.upper(), ts, how)

    def records(self) -> list[tuple[str, str, datetime, str]]:
        """(account, computer, last seen, how) tuples, re-resolving IPs learned late."""
        out = []
        for r in self.sessions.values():
            comp = r.computer
            if _is_ip(comp):
                comp = (self._computer(comp) or comp).upper()
            out.append((r.account, comp, r.ts, r.how))
        return out


TOP_TIER = ("domain admins", "enterprise admins", "schema admins", "administrators",
            "built-in", "domain controller")


def tier(why: str | None) -> int:
    """0: domain-dominance accounts, 1: other sensitive accounts, 2: not sensitive."""
    if not why:
        return 2
    low = why.lower()
    return 0 if any(t in low for t in TOP_TIER) else 1


def _is_ip(v: str) -> bool:
    parts = v.split(".")
    return ":" in v or (len(parts) == 4 and all(p.isdigit() for p in parts))


@dataclass(slots=True)
class PathStep:
    node: str
    label: str
    kind: str  # user | group | computer
    rel: str | None = None  # edge from the previous step
    sensitive: str | None = None


@dataclass(slots=True)
class LmPath:
    """One lateral movement path, initiator first."""

    steps: list[PathStep]

    @property
    def computers(self) -> list[str]:
        return [s.label for s in self.steps if s.kind == "computer"]

    @property
    def target(self) -> PathStep:
        return self.steps[-1]

    def text(self) -> str:
        """``alice -> admin on WS1 -> logged into by hd.admin -> member of Helpdesk ...``."""
        parts = [self.steps[0].label]
        for s in self.steps[1:]:
            parts.append(f"{s.rel} {s.label}")
        return " → ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.text(), "computers": self.computers,
                "nodes": [{"label": s.label, "kind": s.kind, "rel": s.rel,
                           "sensitive": s.sensitive} for s in self.steps]}


@dataclass(slots=True)
class Exposure:
    """A sensitive account reachable through lateral movement paths."""

    account: str
    why: str
    initiators: int  # non-sensitive users with a path to it
    computers: list[str] = field(default_factory=list)  # where its credentials are exposed
    samples: list[LmPath] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"account": self.account, "why": self.why, "initiators": self.initiators,
                "computers": self.computers, "paths": [p.to_dict() for p in self.samples]}


class LateralMovement:
    """The lateral-movement graph of a domain at a point in time."""

    def __init__(self, snap: Snapshot | None = None,
                 sessions: Iterable[tuple[str, str, datetime, str]] = (),
                 local_admins: dict[str, set[str]] | None = None,
                 now: datetime | None = None, retention: timedelta = RETENTION,
                 extra_sensitive: dict[str, str] | None = None) -> None:
        self.snap = snap or Snapshot()
        import networkx as nx  # only when paths are computed (0.1 s to import)

        self.g: nx.DiGraph = nx.DiGraph()
        self.sensitive: dict[str, str] = dict(self.snap.sensitive())
        self.sensitive.update(extra_sensitive or {})
        self._names: dict[str, str] = {}  # lower-case name / DOMAIN\\name -> node
        self._comp_sid: dict[str, str] = {}
        sessions = [(a, c, datetime.fromisoformat(ts), how) for a, c, ts, how
                    in self.snap.sessions] + list(sessions)
        if now is None:
            now = max((s[2] for s in sessions), default=datetime.now(UTC))
        self.now = now
        self.retention = retention
        self._build(sessions, local_admins or {})

    # --- construction ---------------------------------------------------------------------------

    def _node(self, o: DirObject) -> str:
        if o.kind == "computer":
            n = "C:" + o.name.upper()
            self._comp_sid[o.sid] = n
        else:
            n = o.sid
        if n not in self.g:
            self.g.add_node(n, kind=o.kind, label=o.qualified if o.kind != "computer"
                            else o.name.upper(), sensitive=self.sensitive.get(o.sid))
        return n

    def _build(self, sessions: list[tuple[str, str, datetime, str]],
               local_admins: dict[str, set[str]]) -> None:
        g = self.g
        for o in self.snap.objects.values():
            n = self._node(o)
            self._names.setdefault(o.name.lower(), n)
            self._names.setdefault(o.qualified.lower(), n)
            self._names.setdefault(o.sid.lower(), n)
        for o in self.snap.objects.values():
            if o.primary_group and o.primary_group in self.snap.objects:
                g.add_edge(self._ref(o.sid), o.primary_group, rel=MEMBER)
        for grp, ms in self.snap.members.items():
            if grp not in g:
                continue
            for m in ms:
                src = self._ref(m)
                if src is not None:
                    g.add_edge(src, grp, rel=MEMBER)
        admins: dict[str, set[str]] = {}
        for table in (self.snap.local_admins, local_admins):
            for comp, ps in table.items():
                admins.setdefault(comp.upper(), set()).update(ps)
        for comp, ps in admins.items():
            cn = self._computer(comp)
            for p in ps:
                src = self._ref(p)
                if src is not None:
                    g.add_edge(src, cn, rel=ADMIN)
        cut = self.now - self.retention
        for acct, comp, ts, how in sessions:
            if ts < cut or ts > self.now + timedelta(minutes=5):
                continue
            user = self._ref(acct, create_user=True)
            if user is None or g.nodes[user]["kind"] != "user":
                continue
            cn = self._computer(comp)
            old = g.get_edge_data(cn, user)
            if old is None or old.get("ts", cut) < ts:
                g.add_edge(cn, user, rel=SESSION, how=how, ts=ts)

    def _ref(self, ident: str, create_user: bool = False) -> str | None:
        if ident.startswith("DN:"):
            return None
        n = self._comp_sid.get(ident.upper()) or (ident.upper() if ident.upper() in self.g
                                                  else None)
        if n is not None:
            return n
        low = ident.lower()
        n = self._names.get(low) or self._names.get(low.rsplit("\\", 1)[-1].split("@", 1)[0])
        if n is not None or not create_user:
            return n
        label = ident
        self.g.add_node(ident, kind="user", label=label, sensitive=self.sensitive.get(ident))
        self._names[low] = ident
        return ident

    def _computer(self, name: str) -> str:
        n = "C:" + name.upper()
        if n not in self.g:
            self.g.add_node(n, kind="computer", label=name.upper(), sensitive=None)
        return n

    # --- questions -------------------------------------------------------------------------------

    def node_for(self, acct: Account | str | None) -> str | None:
        """Graph node of an account (SID, DOMAIN\\name, name@realm or name)."""
        if acct is None:
            return None
        if isinstance(acct, Account):
            for ident in (acct.sid, acct.name):
                if ident:
                    n = self._ref(ident)
                    if n is not None:
                        return n
            return None
        return self._ref(acct)

    def _is_target(self, n: str, below: int = 2) -> bool:
        d = self.g.nodes[n]
        return d["kind"] == "user" and bool(d.get("sensitive")) and tier(d["sensitive"]) < below

    def _step(self, n: str, rel: str | None) -> PathStep:
        d = self.g.nodes[n]
        return PathStep(n, d["label"], d["kind"], rel, d.get("sensitive"))

    def _path(self, nodes: list[str]) -> LmPath:
        steps = [self._step(nodes[0], None)]
        for u, v in pairwise(nodes):
            steps.append(self._step(v, self.g.edges[u, v]["rel"]))
        # end on the sensitive group that makes the last account sensitive, when known
        last = nodes[-1]
        for grp in self.g.successors(last):
            if self.g.nodes[grp]["kind"] == "group" and self.g.nodes[grp].get("sensitive"):
                steps.append(self._step(grp, MEMBER))
                break
        return LmPath(steps)

    def paths_from(self, acct: Account | str, limit: int = 3, max_depth: int = 12
                   ) -> list[LmPath]:
        """Shortest paths from an account to sensitive users' credentials (>= one computer)."""
        start = self.node_for(acct)
        if start is None:
            return []
        g = self.g
        # a sensitive account's paths matter only when they lead higher (Account Operators ->
        # Domain Admins), not to its peers
        below = tier(g.nodes[start].get("sensitive"))
        if below == 0:
            return []
        parent: dict[str, str | None] = {start: None}
        depth = {start: 0}
        q = deque([start])
        found: list[LmPath] = []
        while q and len(found) < limit:
            u = q.popleft()
            if depth[u] >= max_depth:
                continue
            for v in g.successors(u):
                if v in parent:
                    continue
                parent[v] = u
                depth[v] = depth[u] + 1
                if g.edges[u, v]["rel"] == SESSION and self._is_target(v, below):
                    nodes = [v]
                    while parent[nodes[-1]] is not None:
                        nodes.append(parent[nodes[-1]])  # type: ignore[arg-type]
                    found.append(self._path(nodes[::-1]))
                    if len(found) >= limit:
                        break
                    if tier(g.nodes[v]["sensitive"]) == 0:
                        continue  # nothing lies beyond domain dominance
                q.append(v)
        return found

    def paths_to(self, acct: Account | str, limit: int = 5, max_depth: int = 12
                 ) -> list[LmPath]:
        """Paths from non-sensitive users to an account's credentials (nearest first)."""
        target = self.node_for(acct)
        if target is None:
            return []
        return self._paths_to_node(target, limit, max_depth)

    def _paths_to_node(self, target: str, limit: int, max_depth: int) -> list[LmPath]:
        g = self.g
        nxt: dict[str, str | None] = {target: None}
        depth = {target: 0}
        crossed = {target: False}  # crossed a computer on the way to the target
        q = deque([target])
        found: list[LmPath] = []
        while q and len(found) < limit:
            v = q.popleft()
            if depth[v] >= max_depth:
                continue
            for u in g.predecessors(v):
                if u in nxt:
                    continue
                nxt[u] = v
                depth[u] = depth[v] + 1
                crossed[u] = crossed[v] or g.nodes[u]["kind"] == "computer"
                d = g.nodes[u]
                if d["kind"] == "user" and not d.get("sensitive") and crossed[u]:
                    nodes = [u]
                    while nxt[nodes[-1]] is not None:
                        nodes.append(nxt[nodes[-1]])  # type: ignore[arg-type]
                    found.append(self._path(nodes))
                    if len(found) >= limit:
                        break
                q.append(u)
        return found

    def evidence_for(self, acct: Account | str) -> list[str]:
        """Sentences for an alert: ``X is on a lateral movement path to Domain Admins via WS2``."""
        out: list[str] = []
        node = self.node_for(acct)
        if node is None:
            return out
        label = self.g.nodes[node]["label"]
        for p in self.paths_from(node, limit=3):
            goal = p.target.label if p.target.kind == "group" else (
                f"{p.target.label} ({p.target.sensitive})" if p.target.sensitive
                else p.target.label)
            via = ", ".join(dict.fromkeys(p.computers))
            out.append(f"{label} is on a lateral movement path to {goal} via {via}: {p.text()}")
        if self.g.nodes[node].get("sensitive"):
            for p in self._paths_to_node(node, 2, 12):
                via = ", ".join(dict.fromkeys(p.computers))
                out.append(f"{label} ({self.g.nodes[node]['sensitive']}) is exposed through a "
                           f"lateral movement path from {p.steps[0].label} via {via}: {p.text()}")
        return list(dict.fromkeys(out))

    def exposed_accounts(self, samples: int = 3) -> list[Exposure]:
        """Every sensitive user whose credentials non-sensitive users can reach (the report)."""
        g = self.g
        targets = [n for n in g if self._is_target(n) and any(
            g.edges[c, n]["rel"] == SESSION for c in g.predecessors(n))]
        if not targets:
            return []
        bit = {t: 1 << i for i, t in enumerate(targets)}
        # Reachability bitsets over the condensation (sessions and admin rights make cycles).
        # Every path to a user's credentials ends with a session edge (users have no other
        # incoming edges), so every path found crosses a computer.
        import networkx as nx

        cond = nx.condensation(g)
        members = cond.graph["mapping"]
        own: dict[int, int] = {}
        for t in targets:
            own[members[t]] = own.get(members[t], 0) | bit[t]
        reach: dict[int, int] = {}
        for c in reversed(list(nx.topological_sort(cond))):
            r = own.get(c, 0)
            for s in cond.successors(c):
                r |= reach[s]
            reach[c] = r
        counts = dict.fromkeys(targets, 0)
        order = targets
        for n, d in g.nodes(data=True):
            if d["kind"] != "user" or d.get("sensitive"):
                continue
            r = reach.get(members[n], 0) & ~bit.get(n, 0)
            while r:
                low = r & -r
                counts[order[low.bit_length() - 1]] += 1
                r ^= low
        out = []
        for t in targets:
            if not counts[t]:
                continue
            comps = sorted(g.nodes[c]["label"] for c in g.predecessors(t)
                           if g.edges[c, t]["rel"] == SESSION)
            out.append(Exposure(g.nodes[t]["label"], g.nodes[t]["sensitive"], counts[t], comps,
                                self._paths_to_node(t, samples, 12)))
        out.sort(key=lambda e: (-e.initiators, e.account))
        return out

    # --- drawing ---------------------------------------------------------------------------------

    def svg(self, paths: list[LmPath], width: int = 760) -> str:
        """A small server-side SVG of some paths (one row per path; no JavaScript)."""
        row_h, box_w, gap = 56, 120, 34
        per_row = max(1, (width - 20) // (box_w + gap))
        rows: list[list[PathStep]] = []
        for p in paths:
            for i in range(0, len(p.steps), per_row):
                rows.append(p.steps[i:i + per_row])
        h = max(1, len(rows)) * row_h + 10
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="lmp" width="{width}" '
               f'height="{h}" viewBox="0 0 {width} {h}" role="img" '
               f'aria-label="lateral movement paths">']
        colors = {"user": "#2563eb", "group": "#7c3aed", "computer": "#0f766e"}
        for r, steps in enumerate(rows):
            y = 10 + r * row_h
            for i, s in enumerate(steps):
                x = 10 + i * (box_w + gap)
                if i:
                    out.append(f'<line x1="{x - gap}" y1="{y + 18}" x2="{x - 4}" y2="{y + 18}" '
                               f'stroke="#64748b" stroke-width="1.5"/>'
                               f'<text x="{x - gap + 2}" y="{y + 12}" font-size="8" '
                               f'fill="#475569">{escape((s.rel or "")[:10])}</text>')
                stroke = "#dc2626" if s.sensitive else colors.get(s.kind, "#334155")
                label = s.label.rsplit("\\", 1)[-1]
                out.append(f'<rect x="{x}" y="{y}" width="{box_w}" height="36" rx="6" '
                           f'fill="#fff" stroke="{stroke}" stroke-width="2"/>'
                           f'<text x="{x + 6}" y="{y + 14}" font-size="9" fill="#64748b">'
                           f'{escape(s.kind)}{" · sensitive" if s.sensitive else ""}</text>'
                           f'<text x="{x + 6}" y="{y + 29}" font-size="11" fill="#0f172a">'
                           f'{escape(label[:18])}<title>{escape(s.label)}</title></text>')
        out.append("</svg>")
        return "".join(out)


def enrich_alerts(alerts: Iterable[Alert], lm: LateralMovement) -> int:
    """Add lateral-movement evidence to credential-theft alerts; returns how many changed."""
    n = 0
    for a in alerts:
        if a.external_id not in CREDENTIAL_THEFT:
            continue
        lines: list[str] = []
        comps: list[str] = []
        for e in a.entities:
            if e.kind != "user":
                continue
            node = lm.node_for(Account(e.name.rsplit("\\", 1)[-1], None, e.sid))
            if node is None:
                continue
            ev = lm.evidence_for(node)
            lines += ev
            for p in lm.paths_from(node, 1) + lm._paths_to_node(node, 1, 12):
                comps += p.computers
        if not lines:
            continue
        a.evidence["lateral_movement_paths"] = list(dict.fromkeys(lines))
        have = {(x.kind, x.name) for x in a.entities}
        for c in dict.fromkeys(comps):
            if ("computer", c) not in have:
                a.entities.append(EntityRef("computer", c, "lateral movement path"))
        n += 1
    return n


# --- synthetic domains (tests, bench/lmp_paths.py) ------------------------------------------------


def generate_directory(users: int = 50_000, computers: int = 20_000, seed: int = 7,
                       sessions_per_user: float = 1.5, now: datetime | None = None
                       ) -> tuple[Snapshot, list[tuple[str, str, datetime, str]]]:
    """A plausible domain: departments, helpdesk/server-admin groups with local admin rights,
    a few Domain Admins with sessions on servers and admin workstations, users logged on to
    their own workstations (and being local admins on a few)."""
    rnd = random.Random(seed)
    dom = "S-1-5-21-1-2-3"
    now = now or datetime(2026, 1, 1, tzinfo=UTC)
    snap = Snapshot("corp.example", "CORP", dom, source="synthetic")

    def add(sid: str, kind: str, name: str, pg: int | None = None) -> None:
        snap.objects[sid] = DirObject(sid, kind, name, "BUILTIN" if sid.startswith("S-1-5-32")
                                      else "CORP", f"CN={name},DC=corp,DC=example",
                                      uac=0x200 if kind != "group" else None,
                                      primary_group=f"{dom}-{pg}" if pg else None)

    for r, n in ((512, "Domain Admins"), (513, "Domain Users"), (515, "Domain Computers"),
                 (516, "Domain Controllers"), (519, "Enterprise Admins")):
        add(f"{dom}-{r}", "group", n)
    add("S-1-5-32-544", "group", "Administrators")
    add(f"{dom}-500", "user", "Administrator", 513)
    snap.members[f"{dom}-512"] = {f"{dom}-500"}
    snap.members["S-1-5-32-544"] = {f"{dom}-512", f"{dom}-519", f"{dom}-500"}
    n_dept = max(1, users // 500)
    depts = [f"{dom}-{2000 + i}" for i in range(n_dept)]
    for i, s in enumerate(depts):
        add(s, "group", f"Dept{i}")
    helpdesk = [f"{dom}-{3000 + i}" for i in range(max(1, n_dept // 4))]
    for i, s in enumerate(helpdesk):
        add(s, "group", f"Helpdesk{i}")
    srvadm = [f"{dom}-{3500 + i}" for i in range(max(1, n_dept // 8))]
    for i, s in enumerate(srvadm):
        add(s, "group", f"ServerAdmins{i}")
    for i, s in enumerate(helpdesk):  # nesting: helpdesk groups inside server admin groups
        snap.members.setdefault(srvadm[i % len(srvadm)], set()).add(s)
    base = 10_000
    user_sids = []
    for i in range(users):
        s = f"{dom}-{base + i}"
        user_sids.append(s)
        add(s, "user", f"user{i}", 513)
        snap.members.setdefault(depts[i % n_dept], set()).add(s)
    for i, s in enumerate(user_sids[: max(2, users // 200)]):  # 0.5 % helpdesk staff
        snap.members.setdefault(helpdesk[i % len(helpdesk)], set()).add(s)
    for i, s in enumerate(user_sids[users // 2: users // 2 + max(2, users // 1000)]):
        snap.members.setdefault(srvadm[i % len(srvadm)], set()).add(s)
    das = user_sids[-max(3, users // 5000):]
    snap.members[f"{dom}-512"].update(das)
    comp_names = []
    n_srv = max(2, computers // 10)
    for i in range(computers):
        name = f"SRV{i:05d}" if i < n_srv else f"WS{i:05d}"
        comp_names.append(name)
        add(f"{dom}-{base + users + i}", "computer", name, 515)
    for i, name in enumerate(comp_names):
        if i < n_srv:
            snap.local_admins[name] = {srvadm[i % len(srvadm)], f"{dom}-512"}
        else:
            adm = {helpdesk[i % len(helpdesk)], f"{dom}-512"}
            if rnd.random() < 0.05:  # a few users are local admins of their own workstation
                adm.add(rnd.choice(user_sids))
            snap.local_admins[name] = adm
    sessions = []
    ws = comp_names[n_srv:] or comp_names
    for s in user_sids:
        k = 1 if rnd.random() < sessions_per_user - int(sessions_per_user) else 0
        for _ in range(int(sessions_per_user) + k):
            sessions.append((s, rnd.choice(ws), now - timedelta(hours=rnd.random() * 60),
                             "TGT requested from it"))
    for s in das:  # admins log on to servers and, carelessly, to workstations
        for _ in range(3):
            sessions.append((s, rnd.choice(comp_names[:n_srv]), now - timedelta(hours=2),
                             "interactive logon (4624 type 10)"))
        sessions.append((s, rnd.choice(ws), now - timedelta(hours=1),
                         "interactive logon (4624 type 2)"))
    return snap, sessions
