"""Notifications carry the incident an alert belongs to (CEF cs4, webhook ``incident``)."""

from __future__ import annotations

import json

from portal_helpers import make_alert

from dcwatch.incidents import correlate
from dcwatch.outputs.cef import format_cef, parse_cef
from dcwatch.outputs.webhook import Notifier
from dcwatch.store import Store


def test_cef_incident_extension() -> None:
    a = make_alert(1)
    _, ext = parse_cef(format_cef(a, "new", incident="0123456789abcdef"))
    assert ext["cs4Label"] == "incident"
    assert ext["cs4"] == "0123456789abcdef"
    assert "cs4" not in parse_cef(format_cef(a))[1]


def test_notifier_payloads_name_the_incident(tmp_path) -> None:
    st = Store(str(tmp_path / "n.db"))
    alerts = [make_alert(1), make_alert(2)]  # same source computer: one incident
    st.save_alerts(alerts)
    inc = correlate(alerts)[0]
    n = Notifier(st, ["https://hooks.example/x", "syslog+udp://127.0.0.1:9"],
                 base_url="https://dcwatch.example", deliver_now=False)
    body = json.loads(n.render(st.get_alert("alert000002"), "new", "https://hooks.example/x"))
    assert body["incident"]["id"] == inc.id
    assert body["incident"]["alerts"] == 2
    assert body["incident"]["url"] == f"https://dcwatch.example/incidents/{inc.id}"
    cef = n.render(st.get_alert("alert000001"), "update", "syslog+udp://127.0.0.1:9")
    assert parse_cef(cef)[1]["cs4"] == inc.id
    off = Notifier(st, ["https://hooks.example/x"], deliver_now=False, incidents=False)
    assert "incident" not in json.loads(off.render(alerts[0], "new", "https://hooks.example/x"))
