"""Detectors: one module per alert type, found by discovery (no registry to edit).

Built-ins are the ``Detector`` subclasses in this package's modules; third parties register
theirs under the ``dcwatch.detectors`` entry-point group (Datasette: built-ins use the same
extension point as plugins).
"""

from __future__ import annotations

import importlib
import pkgutil
from importlib.metadata import entry_points

from dcwatch.detectors.base import Detector
from dcwatch.errors import RegistryError

_INTERNAL = {"base", "engine"}
_cache: dict[str, type[Detector]] | None = None


def registry() -> dict[str, type[Detector]]:
    """All detector classes by slug (built-in and plugins)."""
    global _cache
    if _cache is not None:
        return _cache
    found: dict[str, type[Detector]] = {}
    classes: list[type[Detector]] = []
    for mod in pkgutil.iter_modules(__path__):
        if mod.name in _INTERNAL or mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        for obj in vars(module).values():
            if isinstance(obj, type) and issubclass(obj, Detector) and obj is not Detector \
                    and obj.__module__ == module.__name__ and hasattr(obj, "slug"):
                classes.append(obj)
    for ep in entry_points(group="dcwatch.detectors"):
        obj = ep.load()
        if not (isinstance(obj, type) and issubclass(obj, Detector)):
            raise RegistryError(f"entry point {ep.name} is not a Detector subclass")
        classes.append(obj)
    for cls in classes:
        for attr in ("slug", "external_id", "title", "phase", "severity", "handles"):
            if not hasattr(cls, attr):
                raise RegistryError(f"{cls.__qualname__}: missing class attribute {attr}")
        if cls.slug in found and found[cls.slug] is not cls:
            raise RegistryError(f"two detectors claim slug {cls.slug!r}: "
                                f"{found[cls.slug].__qualname__} and {cls.__qualname__}")
        found[cls.slug] = cls
    _cache = dict(sorted(found.items(), key=lambda kv: kv[1].external_id))
    return _cache


def by_external_id() -> dict[int, type[Detector]]:
    """Detector classes by MDI external ID."""
    return {cls.external_id: cls for cls in registry().values()}
