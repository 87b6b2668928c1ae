"""Webhooks with retries, and the durable outbox behind the Notifier (real receivers)."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import pytest
from portal_helpers import make_alert
from receivers import FlakyHTTP, SyslogReceiver

from dcwatch.outputs.cef import parse_cef
from dcwatch.outputs.webhook import DeliveryError, Notifier, WebhookSender, push_alerts
from dcwatch.store import Store
from dcwatch.store.portal import AlertFilter, Portal


def test_webhook_retries_with_backoff(flaky_http: FlakyHTTP) -> None:
    s = WebhookSender(flaky_http.url, retries=3, backoff=0.01, secret="s3cret")
    body = json.dumps({"hello": "world"})
    assert s.send(body) == 204
    assert flaky_http.attempts == 3  # two 503s, then success
    assert json.loads(flaky_http.bodies[0]) == {"hello": "world"}
    sig = hmac.new(b"s3cret", body.encode(), hashlib.sha256).hexdigest()
    assert flaky_http.headers[0]["X-Dcwatch-Signature"] == f"sha256={sig}"


def test_webhook_gives_up_after_retries() -> None:
    srv = FlakyHTTP(fail=10)
    try:
        with pytest.raises(DeliveryError, match="HTTP 503 after 3 attempt"):
            WebhookSender(srv.url, retries=2, backoff=0.01).send("{}")
        assert srv.attempts == 3
    finally:
        srv.close()


def test_notifier_as_engine_listener(tmp_path, flaky_http: FlakyHTTP, tcp_receiver) -> None:
    st = Store(str(tmp_path / "n.db"))
    n = Notifier(st, [flaky_http.url, f"syslog+tcp://127.0.0.1:{tcp_receiver.port}"],
                 base_url="https://dcwatch.example", backoff=0.01)
    from dcwatch.detectors.engine import Engine

    eng = Engine(slugs=[])
    eng.listeners.append(n)
    for listener in eng.listeners:  # what the engine does on a new alert
        listener(make_alert(1), "new")
    n(make_alert(1), "update")
    assert len(flaky_http.bodies) == 2
    first = json.loads(flaky_http.bodies[0])
    assert first["trigger"] == "new"
    assert first["alert"]["id"] == "alert000001"
    assert first["url"] == "https://dcwatch.example/alerts/alert000001"
    got = tcp_receiver.wait(2)
    assert [parse_cef(m)[1]["cs2"] for m in got] == ["new", "update"]
    assert Portal(st).outbox_counts() == {"sent": 4}
    n.stop()


def test_outbox_keeps_alerts_while_receiver_is_down(tmp_path) -> None:
    st = Store(str(tmp_path / "o.db"))
    # a port with nothing listening: take one and close it
    probe = SyslogReceiver("tcp")
    port = probe.port
    probe.close()
    target = f"syslog+tcp://127.0.0.1:{port}"
    n = Notifier(st, [target], backoff=0.05, timeout=1)
    n(make_alert(1), "new")
    n(make_alert(2), "new")
    p = Portal(st)
    assert p.outbox_counts() == {"pending": 2}
    item = p.due(datetime.now(UTC) + timedelta(hours=1))[0]
    assert item.attempts == 1
    assert "Connection" in item.last_error or "refused" in item.last_error.lower()
    # a new process (new Notifier) picks up what is pending once the receiver is back
    recv = SyslogReceiver("tcp", port=port)
    try:
        n2 = Notifier(st, [target], backoff=0.05)
        sent, failed = n2.flush(datetime.now(UTC) + timedelta(seconds=5))
        assert (sent, failed) == (2, 0)
        got = recv.wait(2)
        assert sorted(parse_cef(m)[1]["msg"] for m in got) == sorted(
            make_alert(i).description for i in (1, 2))
        assert p.outbox_counts() == {"sent": 2}
        n2.stop()
    finally:
        recv.close()



def test_background_worker_retries(tmp_path) -> None:
    srv = FlakyHTTP(fail=4)  # more failures than one send's retries
    try:
        st = Store(str(tmp_path / "w.db"))
        n = Notifier(st, [srv.url], retries=1, backoff=0.01, max_backoff=0.05)
        n(make_alert(1), "new")
        assert Portal(st).outbox_counts() == {"pending": 1}
        n.start(interval=0.05)
        import time

        deadline = time.time() + 10
        while time.time() < deadline and Portal(st).outbox_counts().get("sent") != 1:
            time.sleep(0.05)
        n.stop()
        assert Portal(st).outbox_counts() == {"sent": 1}
        assert len(srv.bodies) == 1
    finally:
        srv.close()


def test_push_stored_alerts(tmp_path, udp_receiver) -> None:
    st = Store(str(tmp_path / "p.db"))
    st.save_alerts([make_alert(i, severity="high" if i % 2 else "low") for i in range(6)])
    n = Notifier(st, [f"syslog+udp://127.0.0.1:{udp_receiver.port}"], min_severity="medium")
    assert push_alerts(st, n, AlertFilter(status="open")) == 6
    got = udp_receiver.wait(3)
    assert len(got) == 3  # the low ones are filtered by min_severity
    assert {parse_cef(m)[0][6] for m in got} == {"10"}
