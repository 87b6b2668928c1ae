"""Fixtures: a nats-server with JetStream and a PostgreSQL cluster per test session, on
127.0.0.1 and free ports (skipped with the reason when they cannot start)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.center.servers import NatsServer, PostgresCluster, Unavailable

_names = itertools.count()


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install -e '.[postgres]')")
    try:
        pg = PostgresCluster().start()
    except Unavailable as e:
        pytest.skip(f"PostgreSQL cannot start here: {e}")
    yield pg
    pg.stop()


@pytest.fixture
def pg_url(pg_cluster: PostgresCluster) -> str:
    """A fresh, empty PostgreSQL database."""
    return pg_cluster.new_database(f"t{next(_names)}")


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    try:
        import nats  # noqa: F401
    except ImportError:
        pytest.skip("nats-py is not installed (pip install -e '.[bus]')")
    try:
        srv = NatsServer(tmp_path / "nats").start()
    except Unavailable as e:
        pytest.skip(f"nats-server cannot start here: {e}")
    yield srv
    srv.stop(kill=True)
