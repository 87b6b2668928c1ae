"""The store's own tests (tests/test_store.py) run again on PostgreSQL: same schema, same
migrations, same behaviour."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import tests.test_store as store_tests

from dcwatch.store import Store

CASES = [f for n, f in sorted(vars(store_tests).items())
         if n.startswith("test_") and inspect.isfunction(f)]


@pytest.mark.parametrize("case", CASES, ids=[f.__name__ for f in CASES])
def test_store_on_postgres(case, pg_url: str, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    urls: dict[str, str] = {}

    def on_postgres(target: str) -> Store:
        # Every path a test names maps to one database, so re-opening a "file" re-opens it.
        urls.setdefault(target, pg_url if not urls else _another(pg_url, len(urls)))
        return Store(urls[target])

    monkeypatch.setattr(store_tests, "Store", on_postgres)
    case(tmp_path)


def _another(url: str, n: int) -> str:
    import sqlalchemy

    base, name = url.rsplit("/", 1)
    eng = sqlalchemy.create_engine(url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        c.exec_driver_sql(f'CREATE DATABASE "{name}_{n}"')
    eng.dispose()
    return f"{base}/{name}_{n}"


def test_times_read_back_as_utc_whatever_the_server_zone(pg_url: str) -> None:
    import sqlalchemy

    eng = sqlalchemy.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    with eng.connect() as c:
        name = pg_url.rsplit("/", 1)[1]
        c.exec_driver_sql(f"ALTER DATABASE \"{name}\" SET timezone TO 'America/New_York'")
    eng.dispose()
    from dcwatch.pipeline import ScanOptions, scan

    alerts = scan(ScanOptions([str(store_tests.DEMO)])).alerts
    s = Store(pg_url)
    s.save_alerts(alerts)
    for a in alerts:
        got = s.get_alert(a.id)
        assert got is not None
        assert (got.first_seen, got.last_seen) == (a.first_seen, a.last_seen)
