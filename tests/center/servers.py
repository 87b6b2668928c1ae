"""Real servers for the bus and center tests: nats-server (JetStream) and a temporary PostgreSQL
cluster, both on 127.0.0.1 and free ports, in temporary directories. Used by the tests and by
bench/center_throughput.py. ``Unavailable`` says why a server cannot start (the tests skip)."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

PG_BINS = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


class Unavailable(RuntimeError):
    """A server binary is missing or would not start."""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen, timeout: float, log: Path) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise Unavailable(f"server exited ({proc.returncode}): {log.read_text()[-600:]}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise Unavailable(f"server did not listen on {port} within {timeout}s")


@dataclass
class NatsServer:
    """nats-server with JetStream in ``root``; stop/start keep the port and the stored streams."""

    root: Path
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> NatsServer:
        exe = shutil.which("nats-server") or next(
            (p for p in ("/usr/sbin/nats-server",) if os.access(p, os.X_OK)), None)
        if not exe:
            raise Unavailable("nats-server is not installed (scripts/system_deps.sh installs it)")
        self.port = self.port or free_port()
        store = self.root / "js"
        store.mkdir(parents=True, exist_ok=True)
        log = self.root / "nats.log"
        self.proc = subprocess.Popen(
            [exe, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", str(store)],
            stdout=log.open("ab"), stderr=subprocess.STDOUT)
        _wait_port(self.port, self.proc, 10, log)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.proc and self.proc.poll() is None:
            if kill:
                self.proc.kill()
            else:
                self.proc.terminate()
            self.proc.wait(10)
        self.proc = None


@dataclass
class PostgresCluster:
    """A throw-away PostgreSQL cluster (initdb as the ``postgres`` user when run as root).

    It lives in its own directory under the system temp dir (the ``postgres`` user cannot enter
    root's private pytest directories), removed by :meth:`stop`."""

    root: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="dcwatch-pg-")))
    port: int = 0
    user: str = field(default="")
    _pg_ctl: str = ""

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/postgres"

    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--", *argv]
        return argv

    def start(self) -> PostgresCluster:
        if not PG_BINS:
            raise Unavailable("PostgreSQL is not installed (scripts/system_deps.sh installs it)")
        bin_ = PG_BINS[0]
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                raise Unavailable("no postgres user to own the test cluster") from None
            self.user = "postgres"
        else:
            pw = pwd.getpwuid(os.geteuid())
            self.user = pw.pw_name
        data = self.root / "pgdata"
        self.root.mkdir(parents=True, exist_ok=True)
        os.chown(self.root, pw.pw_uid, pw.pw_gid)
        self.port = self.port or free_port()
        self._pg_ctl = str(bin_ / "pg_ctl")
        r = subprocess.run(self._as_owner([str(bin_ / "initdb"), "-D", str(data), "-A", "trust",
                                           "-U", self.user, "-E", "UTF8", "--no-sync"]),
                           capture_output=True, text=True, check=False, timeout=120)
        if r.returncode != 0:
            raise Unavailable(f"initdb failed: {r.stderr.strip()[-400:]}")
        opts = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off")
        r = subprocess.run(self._as_owner([self._pg_ctl, "-D", str(data), "-o", opts, "-l",
                                           str(self.root / "pg.log"), "-w", "-t", "60", "start"]),
                           capture_output=True, text=True, check=False, timeout=90)
        if r.returncode != 0:
            raise Unavailable(f"pg_ctl start failed: {r.stderr.strip()[-400:]}")
        return self

    def new_database(self, name: str) -> str:
        """Create an empty database; returns its SQLAlchemy URL."""
        import sqlalchemy

        eng = sqlalchemy.create_engine(self.url, isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        eng.dispose()
        return self.url.rsplit("/", 1)[0] + f"/{name}"

    def stop(self) -> None:
        if self._pg_ctl:
            subprocess.run(self._as_owner([self._pg_ctl, "-D", str(self.root / "pgdata"),
                                           "-m", "immediate", "stop"]),
                           capture_output=True, check=False, timeout=60)
            self._pg_ctl = ""
        shutil.rmtree(self.root, ignore_errors=True)
