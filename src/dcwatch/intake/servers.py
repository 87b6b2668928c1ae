"""JSON event records pushed over TCP (JSON lines: NXLog ``om_tcp`` + ``to_json()``, Logstash
``json_lines``) and HTTP (``POST`` of JSON lines, a JSON array or one object: NXLog ``om_http``,
Logstash/Fluent Bit ``http`` outputs).

HTTP answers ``200 {"activities": n, ...}`` only once the activities are on the bus or in the
spool, so a client that retries on error loses nothing (a retried record has the same uid: the
bus drops the duplicate). Plain TCP has no acknowledgement: what is in flight when the sensor
dies is lost (docs/deployment.md). Optional TLS, and a bearer token for HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ssl
from collections.abc import Callable, Coroutine
from typing import Any

import orjson

from dcwatch.intake.parse import RecordParser
from dcwatch.intake.shipper import Sensor

Task = Callable[[], Coroutine[Any, Any, None]]
MAX_BODY = 64 << 20
MAX_LINE = 4 << 20


def _split(addr: str, default_port: int) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return (host or "127.0.0.1").strip("[]"), int(port or default_port)


def tcp_intake(sensor: Sensor, listen: str, tls: ssl.SSLContext | None = None,
               on_listen: Callable[[int], None] | None = None) -> Task:
    """JSON lines over TCP on ``HOST:PORT``."""
    clock = sensor.add_source(f"tcp:{listen}", live=True)

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        parser = RecordParser(f"tcp:{peer[0] if peer else '?'}")
        carry, discard = b"", False  # a line split across reads; an over-long line
        try:
            while True:
                chunk = await reader.read(1 << 16)
                if not chunk:
                    if carry.strip() and not discard:
                        await sensor.emit(clock, parser.lines([carry]))
                    break
                lines = (carry + chunk).split(b"\n")
                carry = lines.pop()
                if discard and lines:
                    lines.pop(0)  # the end of the over-long line
                    discard = False
                if len(carry) > MAX_LINE:
                    parser.stats.skip(f"line {parser.line + 1}", "line longer than 4 MiB")
                    carry, discard = b"", True
                acts = parser.lines(lines)
                if acts:
                    await sensor.emit(clock, acts)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            sensor.counters["skipped"] += parser.stats.skipped
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def run() -> None:
        host, port = _split(listen, 5514)
        server = await asyncio.start_server(client, host, port, ssl=tls, limit=MAX_LINE)
        if on_listen:
            on_listen(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    return run


def http_intake(sensor: Sensor, listen: str, token: str | None = None,
                tls: ssl.SSLContext | None = None,
                on_listen: Callable[[int], None] | None = None) -> Task:
    """``POST /`` (any path) of JSON records over HTTP/1.1 on ``HOST:PORT``."""
    clock = sensor.add_source(f"http:{listen}", live=True)
    expected = f"Bearer {token}".encode() if token else None

    async def respond(writer: asyncio.StreamWriter, code: int, body: dict[str, Any],
                      keep: bool) -> None:
        data = orjson.dumps(body)
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found",
                  405: "Method Not Allowed", 411: "Length Required",
                  413: "Payload Too Large"}.get(code, "Error")
        writer.write(f"HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\n"
                     f"Content-Length: {len(data)}\r\n"
                     f"Connection: {'keep-alive' if keep else 'close'}\r\n\r\n".encode() + data)
        await writer.drain()

    async def read_body(reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes | int:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts: list[bytes] = []
            total = 0
            while True:
                size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await reader.readline()).strip():
                        pass  # trailers
                    return b"".join(parts)
                total += size
                if total > MAX_BODY:
                    return 413
                parts.append(await reader.readexactly(size))
                await reader.readline()
        if "content-length" not in headers:
            return 411
        n = int(headers["content-length"])
        return 413 if n > MAX_BODY else await reader.readexactly(n)

    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        parser = RecordParser(f"http:{peer[0] if peer else '?'}")
        try:
            while True:
                request = await reader.readline()
                if not request:
                    break
                method, _, rest = request.decode("latin-1").partition(" ")
                version = rest.rsplit(" ", 1)[-1].strip()
                headers: dict[str, str] = {}
                while True:
                    line = await reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = line.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                keep = headers.get("connection", "").lower() != "close" and version == "HTTP/1.1"
                if method != "POST":
                    if method == "GET":  # a health probe
                        await respond(writer, 200, {"status": "ok"}, keep)
                        continue
                    await respond(writer, 405, {"error": "POST JSON records"}, False)
                    break
                body = await read_body(reader, headers)
                if isinstance(body, int):
                    await respond(writer, body, {"error": "body missing or too large"}, False)
                    break
                if expected and not hmac.compare_digest(
                        headers.get("authorization", "").encode(), expected):
                    await respond(writer, 401, {"error": "bad or missing bearer token"}, keep)
                    continue
                skipped = parser.stats.skipped
                acts = parser.document(body)
                await sensor.durable(clock, acts)
                sensor.counters["skipped"] += parser.stats.skipped - skipped
                await respond(writer, 200, {"activities": len(acts),
                                            "skipped": parser.stats.skipped - skipped}, keep)
                if not keep:
                    break
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def run() -> None:
        host, port = _split(listen, 8088)
        server = await asyncio.start_server(client, host, port, ssl=tls)
        if on_listen:
            on_listen(server.sockets[0].getsockname()[1])
        async with server:
            await server.serve_forever()

    return run
