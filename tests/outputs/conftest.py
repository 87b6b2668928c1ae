"""Fixtures for output tests: real receivers (syslog UDP/TCP/TLS, HTTP) on 127.0.0.1."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "web"))

from receivers import FlakyHTTP, SyslogReceiver, make_cert_with_cryptography


@pytest.fixture
def udp_receiver() -> Iterator[SyslogReceiver]:
    r = SyslogReceiver("udp")
    yield r
    r.close()


@pytest.fixture
def tcp_receiver() -> Iterator[SyslogReceiver]:
    r = SyslogReceiver("tcp")
    yield r
    r.close()


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 made with the openssl CLI (or cryptography)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    try:
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-keyout", str(key), "-out", str(cert), "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True, timeout=60)
    except (OSError, subprocess.CalledProcessError):
        cryptography = pytest.importorskip("cryptography")
        make_cert_with_cryptography(cert, key)
        del cryptography
    return cert, key



@pytest.fixture
def tls_receiver(tls_cert: tuple[Path, Path]) -> Iterator[SyslogReceiver]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(tls_cert[0]), str(tls_cert[1]))
    r = SyslogReceiver("tls", ctx)
    yield r
    r.close()



@pytest.fixture
def flaky_http() -> Iterator[FlakyHTTP]:
    s = FlakyHTTP(fail=2)
    yield s
    s.close()
