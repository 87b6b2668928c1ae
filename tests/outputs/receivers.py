"""Real receivers for output tests (syslog UDP/TCP/TLS, HTTP), all on 127.0.0.1."""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
from pathlib import Path


class SyslogReceiver:
    """A real syslog listener: UDP datagrams, or TCP/TLS with RFC 6587 octet counting."""

    def __init__(self, transport: str, ssl_ctx: ssl.SSLContext | None = None,
                 port: int = 0) -> None:
        self.transport = transport
        self.messages: list[str] = []
        self.got = threading.Condition()
        kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.ssl_ctx = ssl_ctx
        self.stop = False
        if transport != "udp":
            self.sock.listen(5)
        self.sock.settimeout(0.2)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _add(self, msg: str) -> None:
        with self.got:
            self.messages.append(msg)
            self.got.notify_all()

    def _run(self) -> None:
        while not self.stop:
            try:
                if self.transport == "udp":
                    data, _ = self.sock.recvfrom(65535)
                    self._add(data.decode())
                    continue
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(5)
            if self.ssl_ctx is not None:
                conn = self.ssl_ctx.wrap_socket(conn, server_side=True)
            buf = b""
            while not self.stop:
                chunk = conn.recv(65535)
                if not chunk:
                    return
                buf += chunk
                while b" " in buf:
                    size, _, rest = buf.partition(b" ")
                    n = int(size)
                    if len(rest) < n:
                        break
                    self._add(rest[:n].decode())
                    buf = rest[n:]
        except (OSError, ValueError):
            return
        finally:
            conn.close()

    def wait(self, n: int, timeout: float = 10.0) -> list[str]:
        """Block until ``n`` messages arrived."""
        with self.got:
            self.got.wait_for(lambda: len(self.messages) >= n, timeout)
            return list(self.messages)

    def close(self) -> None:
        """Stop listening (the accept loop ends before the socket closes)."""
        self.stop = True
        self.thread.join(timeout=2)
        self.sock.close()


class FlakyHTTP:
    """An HTTP server on 127.0.0.1 that answers 503 to the first ``fail`` POSTs."""

    def __init__(self, fail: int = 0) -> None:
        self.fail = fail
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.attempts = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                outer.attempts += 1
                if outer.attempts <= outer.fail:
                    self.send_response(503)
                    self.end_headers()
                    return
                outer.bodies.append(body)
                outer.headers.append(dict(self.headers))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def make_cert_with_cryptography(cert: Path, key: Path) -> None:
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    c = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(k.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now)
         .not_valid_after(now + datetime.timedelta(days=2))
         .add_extension(x509.SubjectAlternativeName([x509.IPAddress(
             ipaddress.ip_address("127.0.0.1"))]), critical=False)
         .sign(k, hashes.SHA256()))
    key.write_bytes(k.private_bytes(serialization.Encoding.PEM,
                                    serialization.PrivateFormat.TraditionalOpenSSL,
                                    serialization.NoEncryption()))
    cert.write_bytes(c.public_bytes(serialization.Encoding.PEM))
