"""Detector discovery: built-ins by package discovery, third parties by entry points."""

from __future__ import annotations

from typing import ClassVar

import pytest

import dcwatch.detectors as reg_mod
from dcwatch.detectors.base import Detector
from dcwatch.errors import RegistryError
from dcwatch.model.alert import Phase, Severity


class PluginDetector(Detector):
    slug: ClassVar[str] = "third-party-example"
    external_id: ClassVar[int] = 9001
    title: ClassVar[str] = "Example plugin"
    phase: ClassVar[Phase] = Phase.OTHER
    severity: ClassVar[Severity] = Severity.LOW
    handles: ClassVar[frozenset[str]] = frozenset()

    def observe(self, activity):
        return []


class _EP:
    def __init__(self, name: str, obj: object) -> None:
        self.name = name
        self._obj = obj

    def load(self) -> object:
        return self._obj


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(reg_mod, "_cache", None)
    yield
    reg_mod._cache = None


def test_builtins_are_discovered() -> None:
    r = reg_mod.registry()
    assert {"dcsync", "sensitive-group-addition", "suspicious-service-creation"} <= set(r)
    assert list(r.values()) == sorted(r.values(), key=lambda c: c.external_id)


def test_entry_point_plugin_is_registered(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reg_mod, "entry_points",
                        lambda group: [_EP("example", PluginDetector)])
    assert reg_mod.registry()["third-party-example"] is PluginDetector


def test_bad_plugin_is_a_registry_error(fresh: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reg_mod, "entry_points", lambda group: [_EP("bad", object)])
    with pytest.raises(RegistryError, match="not a Detector subclass"):
        reg_mod.registry()


def test_duplicate_slug_is_a_registry_error(fresh: None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    dup = type("Dup", (PluginDetector,), {"slug": "dcsync", "__module__": "x"})
    monkeypatch.setattr(reg_mod, "entry_points", lambda group: [_EP("dup", dup)])
    with pytest.raises(RegistryError, match="two detectors claim slug 'dcsync'"):
        reg_mod.registry()
