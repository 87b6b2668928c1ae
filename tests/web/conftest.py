"""Fixtures for the portal tests: a store with synthetic alerts and users, and a client."""

from __future__ import annotations

import os
import sys

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("argon2")
sys.path.insert(0, os.path.dirname(__file__))

from fastapi.testclient import TestClient
from portal_helpers import PASSWORD, make_alert

from dcwatch.store import Store
from dcwatch.store.portal import Portal
from dcwatch.web.app import create_app


@pytest.fixture
def store(tmp_path) -> Store:
    """A store with 5 alerts and three users (admin, analyst, viewer)."""
    st = Store(str(tmp_path / "portal.db"))
    st.save_alerts([make_alert(i, severity=["high", "medium", "low"][i % 3],
                               user="CONTOSO\\alice" if i == 4 else "CONTOSO\\mallory")
                    for i in range(5)])
    p = Portal(st)
    for name, role in (("adm", "admin"), ("ana", "analyst"), ("vic", "viewer")):
        p.add_user(name, role, PASSWORD)
    return st


@pytest.fixture
def portal(store: Store) -> Portal:
    return Portal(store)


@pytest.fixture
def app(store: Store):
    return create_app(store, base_url="http://dcwatch.test")


@pytest.fixture
def client(app) -> TestClient:
    return TestClient(app)


@pytest.fixture(autouse=True)
def _cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lower argon2 costs in tests (the production defaults take ~50 ms per hash)."""
    from dcwatch.store import portal as portal_mod

    monkeypatch.setattr(portal_mod, "HASH_PARAMS",
                        {"time_cost": 1, "memory_cost": 1024, "parallelism": 1})
