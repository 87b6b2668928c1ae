"""The detection engine: dispatch by activity kind, alert de-duplication and updates.

For each activity (time-ordered): the resolver learns from it, then every detector that handles
its kind observes it. Drafts become alerts: the same type and key inside the detector's update
window update the open alert (MDI's "update" trigger), otherwise a new alert opens. Exclusions
drop drafts naming an excluded entity. Drafts that require their target to be a DC wait while
the data cannot yet tell, and are decided when it can (or at the end: "assumed").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from dcwatch.detectors import registry
from dcwatch.detectors.base import DetectionConfig, DetectionContext, Detector
from dcwatch.entities.resolver import Resolver
from dcwatch.model.activity import Activity
from dcwatch.model.alert import Alert, AlertDraft, EntityRef, Status

Listener = Callable[[Alert, str], None]  # (alert, "new" | "update")


@dataclass(frozen=True, slots=True)
class Exclusion:
    """Do not alert on an entity: for one detector slug or ``*`` (product.md section 6)."""

    slug: str
    kind: str  # user | computer | ip | any
    value: str
    expires: datetime | None = None

    def matches(self, slug: str, entity: EntityRef, now: datetime) -> bool:
        """Whether this exclusion covers an entity of an alert of type ``slug``."""
        if self.slug not in ("*", slug):
            return False
        if self.expires is not None and now > self.expires:
            return False
        if self.kind not in ("any", entity.kind) and not (self.kind == "ip" and entity.ip):
            return False
        v = self.value.lower()
        name = entity.name.lower()
        return v in (name, (entity.ip or "").lower(), name.rsplit("\\", 1)[-1],
                     (entity.sid or "").lower())


class Engine:
    """Runs the detectors over an activity stream and keeps the alerts."""

    def __init__(self, resolver: Resolver | None = None, config: DetectionConfig | None = None,
                 slugs: Iterable[str] | None = None,
                 exclusions: Iterable[Exclusion] = ()) -> None:
        self.resolver = resolver or Resolver()
        self.config = config or DetectionConfig()
        self.ctx = DetectionContext(self.resolver, self.config)
        reg = registry()
        chosen = list(slugs) if slugs is not None else list(reg)
        self.detectors: list[Detector] = [reg[s](self.ctx) for s in chosen]
        self.by_kind: dict[str, list[Detector]] = {}
        for d in self.detectors:
            for kind in d.handles:
                self.by_kind.setdefault(str(kind), []).append(d)
        self._observers = self._bind_observers()
        self.exclusions = list(exclusions)
        self.alerts: dict[str, Alert] = {}  # id -> alert (this run)
        self._open: dict[tuple[str, str], Alert] = {}
        self._pending: list[AlertDraft] = []
        self._classes = {d.slug: type(d) for d in self.detectors}
        self._uids: dict[str, tuple[list[Activity], set[str]]] = {}  # see _known_uids
        self.listeners: list[Listener] = []
        self.activities = 0
        self.excluded = 0

    def _bind_observers(self) -> dict[str, tuple[Callable[[Activity], list[AlertDraft]], ...]]:
        """Per kind, the bound ``observe`` of each detector that handles it: process() then
        looks up no attribute per detector and activity (8-18 calls per Kerberos activity)."""
        return {kind: tuple(d.observe for d in dets) for kind, dets in self.by_kind.items()}

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state.pop("_observers", None)  # bound methods: rebuilt on load, not pickled
        state.pop("_uids", None)  # a cache: rebuilt on demand
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._observers = self._bind_observers()
        self._uids = {}

    def process(self, a: Activity) -> None:
        """Feed one activity."""
        self.activities += 1
        resolver = self.resolver
        before = resolver.version
        resolver.observe(a)
        observers = self._observers.get(a.kind)
        if observers:  # most kinds have a handful of detectors; some none
            for observe in observers:
                drafts = observe(a)
                if drafts:  # most observations return an empty list
                    for draft in drafts:
                        self.submit(draft)
        if self._pending and resolver.version != before:
            self._retry_pending(final=False)

    def run(self, activities: Iterable[Activity]) -> list[Alert]:
        """Process a whole stream and finish; returns the alerts of this run."""
        for a in activities:
            self.process(a)
        return self.finish()

    def finish(self) -> list[Alert]:
        """End of input: flush detector state and undecided drafts."""
        for det in self.detectors:
            for draft in det.finish():
                self.submit(draft)
        self._retry_pending(final=True)
        return sorted(self.alerts.values(), key=lambda al: (al.first_seen, al.external_id))

    # --- drafts to alerts --------------------------------------------------------------------

    def submit(self, draft: AlertDraft) -> Alert | None:
        """Turn a draft into a new or updated alert (or drop it: excluded, not on a DC)."""
        if not draft.activities:
            return None
        host = draft.evidence.get("_require_dc")
        if host is not None:
            status, why = self.resolver.dc_status(host)
            if status is None:
                self._pending.append(draft)
                return None
            if status is False:
                return None
            draft.evidence.pop("_require_dc", None)
            draft.evidence.pop("_assume_dc", None)
            draft.evidence.setdefault("dc_role", why)
        return self._accept(draft)

    def _retry_pending(self, final: bool) -> None:
        pending, self._pending = self._pending, []
        for draft in pending:
            host = draft.evidence["_require_dc"]
            status, why = self.resolver.dc_status(host)
            if status is None and not final:
                self._pending.append(draft)
                continue
            if status is False:
                continue
            if status is None and draft.evidence.get("_assume_dc") is False:
                # A wire target of unknown role: only when the data shows no DC at all is it
                # taken as the monitored DC (a sensor on a DC captures that DC's traffic).
                if self.resolver.knows_any_dc():
                    continue
                why = ("assumed: the data shows no domain controller, so the server of this "
                       "capture is taken as the monitored DC (use --dc to state it)")
            draft.evidence.pop("_require_dc", None)
            draft.evidence.pop("_assume_dc", None)
            draft.evidence.setdefault(
                "dc_role", why or "assumed: its logs were given to dcwatch and nothing in the "
                "data says it is not a domain controller (use --dc to state it)")
            self._accept(draft)

    def _accept(self, draft: AlertDraft) -> Alert | None:
        now = draft.activities[-1].ts
        for ex in self.exclusions:
            if any(ex.matches(draft.slug, e, now) for e in draft.entities):
                self.excluded += 1
                return None
        cls = self._classes[draft.slug]
        _netbios_names(draft, self.resolver.realms)
        acts = sorted(draft.activities, key=lambda x: x.ts)
        first, last = acts[0].ts, acts[-1].ts
        key = (draft.slug, draft.key)
        alert = self._open.get(key)
        if alert is not None and alert.status is Status.OPEN and \
                first <= alert.last_seen + cls.update_window:
            _merge(alert, draft, acts, cls.max_activities, self._known_uids(alert))
            alert.trigger = "update"
            self._notify(alert, "update")
            return alert
        alert = Alert(
            id=Alert.make_id(draft.slug, draft.key, acts[0]),
            type=draft.slug,
            external_id=cls.external_id,
            title=cls.title,
            description=draft.description,
            severity=draft.severity or cls.severity,
            phase=cls.phase,
            status=Status.OPEN,
            first_seen=first,
            last_seen=last,
            key=draft.key,
            entities=_dedup_entities(draft.entities),
            evidence=dict(draft.evidence),
            activities=_dedup_acts(acts)[: cls.max_activities],
            mitre=cls.mitre,
        )
        self._open[key] = alert
        self.alerts[alert.id] = alert
        self._notify(alert, "new")
        return alert

    def _known_uids(self, alert: Alert) -> set[str]:
        """The uids of an open alert's activities, kept between updates: an alert that keeps
        updating holds up to 500 activities, and rebuilding the set per update cost more than
        the update. Rebuilt when the list is not the one it was made from (a copy, a reset)."""
        cached = self._uids.get(alert.id)
        if cached is not None and cached[0] is alert.activities and \
                len(cached[1]) == len(alert.activities):
            return cached[1]
        if len(self._uids) >= 10_000:  # alerts closed or pruned meanwhile: start again
            self._uids.clear()
        known = {a.uid for a in alert.activities}
        self._uids[alert.id] = (alert.activities, known)
        return known

    def _notify(self, alert: Alert, trigger: str) -> None:
        for fn in self.listeners:
            fn(alert, trigger)


def _netbios_names(draft: AlertDraft, realms: dict[str, str]) -> None:
    """Name accounts DOMAIN\\user even where a source gave the Kerberos realm (a user seen as
    CONTOSO.LOCAL\\x and CONTOSO\\x is one account, shown one way)."""
    def fix(text: str) -> str:
        if "\\" not in text:  # both rewrites below need a backslash (DOMAIN\name)
            return text
        up = None
        for realm, netbios in realms.items():
            if up is None:
                up = text.upper()
            if realm in up:
                text = _replace_ci(text, realm + "\\", netbios + "\\")
                up = None
        # a DNS domain the data never paired with its NetBIOS name: its first label, as
        # Windows names it by default (contoso.local\x -> CONTOSO\x); never inside a UNC path
        # or file path (the character before the name is checked)
        return _DOTTED_ACCOUNT.sub(lambda m: m.group(1).split(".", 1)[0].upper() + "\\", text) \
            if "." in text else text

    def fix_value(v: object, depth: int = 0) -> object:
        if isinstance(v, str):
            return fix(v) if "\\" in v else v
        if depth < 2 and isinstance(v, list):
            return [fix_value(x, depth + 1) for x in v]
        if depth < 2 and isinstance(v, dict):
            return {k: fix_value(x, depth + 1) for k, x in v.items()}
        return v

    draft.description = fix(draft.description)
    draft.entities = [EntityRef(e.kind, fix(e.name), e.role, e.sid, e.ip)
                      if e.kind == "user" else e for e in draft.entities]
    # evidence too ("actor": "contoso.local\\x" from an LDAP simple bind's UPN)
    draft.evidence = {k: fix_value(v) for k, v in draft.evidence.items()}


_DOTTED_ACCOUNT = re.compile(
    r"(?<![\w.\\/:-])([A-Za-z][A-Za-z0-9-]*(?:\.[A-Za-z0-9-]+)*\.[A-Za-z][A-Za-z0-9-]+)"
    r"\\(?=[\w$.-])")


def _replace_ci(text: str, old: str, new: str) -> str:
    low, lo = text.lower(), old.lower()
    j = low.find(lo)
    if j == -1:  # the realm without a backslash after it (most descriptions)
        return text
    out, i = [], 0
    while j != -1:
        if j and (low[j - 1].isalnum() or low[j - 1] in ".\\/:-"):  # inside a host name or
            out.append(text[i:j + len(old)])  # a path (\\dc01.contoso.local\share): keep
        else:
            out.append(text[i:j])
            out.append(new)
        i = j + len(old)
        j = low.find(lo, i)
    out.append(text[i:])
    return "".join(out)


def _dedup_acts(acts: list[Activity]) -> list[Activity]:
    seen: set[str] = set()
    out = []
    for a in acts:
        if a.uid not in seen:
            seen.add(a.uid)
            out.append(a)
    return out


def _dedup_entities(ents: list[EntityRef]) -> list[EntityRef]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for e in ents:
        k = (e.kind, e.name.lower(), e.role)
        if k not in seen:
            seen.add(k)
            out.append(e)
    return out


def _merge(alert: Alert, draft: AlertDraft, acts: list[Activity], cap: int,
           known: set[str] | None = None) -> None:
    """Fold a draft into an open alert: activities, entities, evidence, time frame, count.
    ``known``: the uids of ``alert.activities`` (kept up to date here)."""
    if known is None:
        known = {a.uid for a in alert.activities}
    new = [a for a in acts if a.uid not in known]
    if not new and alert.evidence == {**alert.evidence, **draft.evidence}:
        return
    alert.count += 1
    room = cap - len(alert.activities)
    if room > 0:
        added = new[:room]
        alert.activities.extend(added)
        alert.activities.sort(key=lambda x: x.ts)
        known.update(a.uid for a in added)
    alert.first_seen = min(alert.first_seen, acts[0].ts)
    alert.last_seen = max(alert.last_seen, acts[-1].ts)
    alert.description = draft.description
    alert.entities = _dedup_entities(alert.entities + draft.entities)
    if draft.severity and list(type(draft.severity)).index(draft.severity) > \
            list(type(alert.severity)).index(alert.severity):
        alert.severity = draft.severity
    for k, v in draft.evidence.items():
        old = alert.evidence.get(k)
        if isinstance(old, list) and isinstance(v, list):
            alert.evidence[k] = old + [x for x in v if x not in old]
        else:
            alert.evidence[k] = v
