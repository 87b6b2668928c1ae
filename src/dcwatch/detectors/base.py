"""What every detector shares: class attributes that say what it is, state helpers, drafting.

A detector module holds one class per alert type (style.md). The engine calls ``observe`` for
each activity whose kind is in ``handles`` and ``finish`` once at end of input. Detectors never
write SQL or output: they return ``AlertDraft``s and the engine decides new versus updated.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar

from dcwatch.entities.resolver import Resolver
from dcwatch.model.activity import Account, Activity
from dcwatch.model.alert import AlertDraft, EntityRef, Phase, Severity

T = TypeVar("T")


@dataclass(slots=True)
class DetectionConfig:
    """Run-wide detection settings (config file in live mode, CLI flags in ``scan``)."""

    mode: str = "forensic"  # forensic (scan: no learning) | live (learning periods honoured)
    thresholds: dict[str, str] = field(default_factory=dict)  # slug -> high | medium | low
    test_mode: bool = False  # MDI "recommended test mode": every threshold Low
    tunables: dict[str, dict[str, Any]] = field(default_factory=dict)  # slug -> {attr: value}

    def threshold(self, slug: str) -> str:
        """The threshold level in force for a detector."""
        return "low" if self.test_mode else self.thresholds.get(slug, "high")


@dataclass(slots=True)
class DetectionContext:
    """What a detector may consult: the resolver and the configuration."""

    resolver: Resolver
    config: DetectionConfig = field(default_factory=DetectionConfig)
    # State several detectors build from the same activities (``Detector.shared``): kept once
    # instead of once per detector, in memory and in CPU per activity.
    shared: dict[str, Any] = field(default_factory=dict)


class SlidingWindow(Generic[T]):
    """Items within ``span`` of the newest one, evicted by time (and by count: bounded memory)."""

    __slots__ = ("_items", "max_items", "span")

    def __init__(self, span: timedelta, max_items: int = 10_000) -> None:
        self.span = span
        self.max_items = max_items
        self._items: deque[tuple[datetime, T]] = deque()

    def add(self, ts: datetime, item: T) -> None:
        """Add an item and evict what fell out of the window."""
        items = self._items
        items.append((ts, item))
        cutoff = ts - self.span  # expire(ts), inlined: called per activity by many detectors
        while items and items[0][0] < cutoff:
            items.popleft()
        while len(items) > self.max_items:
            items.popleft()

    def expire(self, now: datetime) -> None:
        """Drop items older than ``now - span``."""
        cutoff = now - self.span
        items = self._items
        while items and items[0][0] < cutoff:
            items.popleft()

    def items(self) -> list[T]:
        """The items in time order."""
        return [i for _, i in self._items]

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return (i for _, i in self._items)


class BoundedDict(OrderedDict[str, T]):
    """A dict that forgets its least recently set keys beyond ``max_keys`` (per-entity state)."""

    def __init__(self, max_keys: int = 100_000) -> None:
        super().__init__()
        self.max_keys = max_keys

    def __setitem__(self, key: str, value: T) -> None:
        # OrderedDict's own methods named directly: super() costs a lookup per call, and
        # detectors set a key per activity
        if key in self:
            self.move_to_end(key)
        OrderedDict.__setitem__(self, key, value)
        if len(self) > self.max_keys:
            self.popitem(last=False)


def coerce_tunable(default: Any, value: Any) -> Any:
    """A configured tunable value in the type of the class default: configuration files and
    ``--tunable SLUG.NAME=VALUE`` give strings and lists (``a,b`` for a collection)."""
    if isinstance(default, frozenset | tuple | set | list) and isinstance(value, str | list):
        items = [v.strip() for v in value.split(",")] if isinstance(value, str) else value
        return type(default)(v for v in items if v != "")
    if not isinstance(value, str) or isinstance(default, str) or default is None:
        return value
    if isinstance(default, bool):
        return value.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int | float):
        return type(default)(value)
    if isinstance(default, timedelta):
        return timedelta(seconds=float(value))
    return value


class Detector:
    """Base class of every detector. Subclasses set the class attributes and ``observe``."""

    slug: ClassVar[str]
    external_id: ClassVar[int]
    title: ClassVar[str]
    phase: ClassVar[Phase]
    severity: ClassVar[Severity]
    handles: ClassVar[frozenset[str]]
    mitre: ClassVar[tuple[str, ...]] = ()
    learning_period: ClassVar[timedelta | None] = None  # live mode only
    update_window: ClassVar[timedelta] = timedelta(hours=24)  # open alert is updated within it
    max_activities: ClassVar[int] = 500  # activities kept per alert (the count keeps counting)

    def __init__(self, ctx: DetectionContext) -> None:
        self.ctx = ctx
        self.resolver = ctx.resolver
        self._learning_start: dict[str, datetime] = {}
        for name, value in ctx.config.tunables.get(self.slug, {}).items():
            if not hasattr(type(self), name):
                from dcwatch.errors import ConfigError

                raise ConfigError(f"{self.slug}: unknown tunable {name!r}")
            setattr(self, name, coerce_tunable(getattr(type(self), name), value))

    # --- to override --------------------------------------------------------------------------

    def observe(self, activity: Activity) -> list[AlertDraft]:
        """Consume one activity; return drafts for alerts to open or update."""
        raise NotImplementedError

    def finish(self) -> list[AlertDraft]:
        """End of input: report what state still holds."""
        return []

    # --- helpers ------------------------------------------------------------------------------

    def shared(self, name: str, factory: Callable[[], T]) -> T:
        """One object per engine under ``name``, made by ``factory`` for the first detector
        that asks: detectors that would each feed an identical copy from the same activities
        (the golden-ticket family's ``TgtTracker``) share it."""
        found = self.ctx.shared.get(name)
        if found is None:
            found = self.ctx.shared[name] = factory()
        return found  # type: ignore[no-any-return]

    @property
    def threshold(self) -> str:
        """high (default) | medium | low (product.md section 7)."""
        return self.ctx.config.threshold(self.slug)

    def learning(self, clock: str, ts: datetime) -> bool:
        """True while the learning period of ``clock`` (a DC, a computer...) runs (live only)."""
        if self.learning_period is None or self.ctx.config.mode != "live":
            return False
        if self.threshold != "high":
            return False
        start = self._learning_start.setdefault(clock, ts)
        return ts - start < self.learning_period

    def draft(self, key: str, activities: list[Activity], description: str,
              entities: list[EntityRef] | None = None, evidence: dict[str, Any] | None = None,
              severity: Severity | None = None, require_dc: str | None = None,
              assume_dc: bool = True) -> AlertDraft:
        """An alert draft of this detector's type.

        ``require_dc``: the alert concerns that host only if it is a domain controller; the
        engine waits while the data cannot tell, then assumes it is one (event logs given to
        dcwatch are normally DC logs) unless ``assume_dc`` is False (e.g. a wire target IP)."""
        d = AlertDraft(self.slug, key, description, list(activities), entities or [],
                       evidence or {}, severity)
        if require_dc:
            d.evidence.setdefault("_require_dc", require_dc)
            if not assume_dc:
                d.evidence["_assume_dc"] = False
        return d


def user_ref(acct: Account | None, role: str) -> EntityRef | None:
    """Entity reference of an account."""
    if acct is None or not (acct.name or acct.sid):
        return None
    kind = "computer" if acct.is_machine else "user"
    name = acct.name[:-1] if acct.is_machine and acct.name else (acct.name or acct.sid or "?")
    if acct.domain and not acct.is_machine:
        name = f"{acct.domain}\\{name}"
    return EntityRef(kind, name, role, sid=acct.sid)


def computer_ref(name: str | None, role: str, ip: str | None = None) -> EntityRef | None:
    """Entity reference of a computer (by name, or by IP when unresolved)."""
    if not name and not ip:
        return None
    if not name:
        return EntityRef("ip", ip or "?", role, ip=ip)
    parts = name.split(".")
    if ":" in name or (len(parts) == 4 and all(p.isdigit() for p in parts)):
        return EntityRef("ip", name, role, ip=name)  # an address given as the name
    return EntityRef("computer", parts[0].upper(), role, ip=ip)


def ip_ref(ip: str | None, role: str) -> EntityRef | None:
    """Entity reference of an IP address."""
    return EntityRef("ip", ip, role, ip=ip) if ip else None


def refs(*items: EntityRef | None) -> list[EntityRef]:
    """Drop the Nones."""
    return [i for i in items if i is not None]


def host_name(host: str | None) -> str:
    """Display name of a host: short upper-case name."""
    if not host:
        return "an unknown computer"
    parts = host.split(".")
    if ":" in host or (len(parts) == 4 and all(p.isdigit() for p in parts)):
        return host  # an address, not a name
    return parts[0].upper()
