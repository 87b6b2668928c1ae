"""CEF rendering, escaping, syslog framing, and delivery to real UDP/TCP/TLS receivers."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from portal_helpers import make_alert

from dcwatch.model.alert import EntityRef
from dcwatch.outputs.cef import (
    SyslogSender,
    SyslogTarget,
    escape_header,
    escape_value,
    format_cef,
    frame_3164,
    frame_5424,
    parse_cef,
)

URL = "https://dcwatch.example:8443/alerts/alert000001"


def test_cef_header_and_extensions() -> None:
    a = make_alert(1)
    msg = format_cef(a, "new", URL, version="1.2.3")
    assert msg.startswith("CEF:0|dcwatch|dcwatch|1.2.3|DirectoryServicesReplicationSecurityAlert|"
                          "Suspected DCSync attack (replication of directory services)|10|")
    header, ext = parse_cef(msg)
    assert header[6] == "10"
    assert ext["start"] == "2024-03-01T08:01:00.000Z"
    assert ext["app"] == "Drsr"
    assert ext["suser"] == "CONTOSO\\mallory"
    assert ext["shost"] == "WS01"
    assert ext["outcome"] == "Success"
    assert ext["msg"] == a.description
    assert ext["cnt"] == "3"
    assert ext["externalId"] == "2006"
    assert ext["cs1Label"] == "url"
    assert ext["cs1"] == URL
    assert "cs1=https\\://dcwatch.example\\:8443/alerts" in msg  # MDI escapes ':' in the URL
    assert ext["cs2Label"] == "trigger"
    assert ext["cs2"] == "new"
    assert ext["cs3Label"] == "shostfqdn"
    assert ext["cs3"] == "WS01.contoso.local"
    assert parse_cef(format_cef(a, "update", URL))[1]["cs2"] == "update"


def test_severity_mapping() -> None:
    for sev, n in (("low", "3"), ("medium", "5"), ("high", "10")):
        assert parse_cef(format_cef(make_alert(1, severity=sev)))[0][6] == n


def test_escaping() -> None:
    assert escape_header("a|b\\c") == "a\\|b\\\\c"
    assert escape_value("a=b\\c\nd\re") == "a\\=b\\\\c\\nd\\re"
    a = make_alert(1)
    a.title = "Weird | title \\ here"
    a.description = "line1 x=1 | y\\z\nline2"
    a.entities = [EntityRef("user", "DOM\\odd=name", "attacker")]
    msg = format_cef(a, "new", URL)
    assert "|Weird \\| title \\\\ here|" in msg
    assert "msg=line1 x\\=1 | y\\\\z\\r\\nline2 " in msg  # lines joined with \r\n (escaped)
    assert "suser=DOM\\\\odd\\=name" in msg
    assert "\n" not in msg
    assert "\r" not in msg
    header, ext = parse_cef(msg)
    assert header[5] == "Weird | title \\ here"
    assert ext["msg"] == "line1 x=1 | y\\z\r\nline2"
    assert ext["suser"] == "DOM\\odd=name"


def test_unknown_type_gets_a_class() -> None:
    a = make_alert(1)
    a.external_id, a.type = 9999, "my-new-detector"
    assert parse_cef(format_cef(a))[0][4] == "MyNewDetectorSecurityAlert"


def test_framing() -> None:
    ts = datetime(2024, 3, 1, 8, 1, 2, 345000, tzinfo=UTC)
    f = frame_5424("CEF:0|x", "DirectoryServicesReplicationSecurityAlert", "sensor1", ts=ts,
                   procid="42")
    assert f == ("<13>1 2024-03-01T08:01:02.345Z sensor1 CEF 42 DirectoryServicesReplicationSecu"
                 " - CEF:0|x")
    f = frame_3164("CEF:0|x", "sensor1.contoso.local", ts=ts)
    assert f == "<13>Mar  1 08:01:02 sensor1 CEF:0|x"


def test_target_urls() -> None:
    t = SyslogTarget.parse("syslog+tls://siem.example:6514?framing=3164&ca=/etc/ca.pem")
    assert (t.transport, t.host, t.port, t.framing, t.ca) == ("tls", "siem.example", 6514,
                                                              "3164", "/etc/ca.pem")
    assert SyslogTarget.parse("syslog+udp://10.0.0.1").port == 514


def _check_5424(line: str) -> None:
    assert re.match(r"<13>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z \S+ CEF \d+ "
                    r"DirectoryServicesReplicationSecu - CEF:0\|dcwatch\|", line), line


def test_udp_delivery(udp_receiver) -> None:
    s = SyslogSender(f"syslog+udp://127.0.0.1:{udp_receiver.port}")
    cef = format_cef(make_alert(1), "new", URL)
    s.send(s.frame(cef, "DirectoryServicesReplicationSecurityAlert"))
    got = udp_receiver.wait(1)
    _check_5424(got[0])
    assert parse_cef(got[0])[1]["externalId"] == "2006"


def test_tcp_octet_counting_delivery(tcp_receiver) -> None:
    s = SyslogSender(f"syslog+tcp://127.0.0.1:{tcp_receiver.port}?framing=3164")
    for i in range(3):
        s.send(s.frame(format_cef(make_alert(i), "new", URL)))
    got = tcp_receiver.wait(3)
    s.close()
    assert len(got) == 3
    assert all(re.match(r"<13>\w{3} [ \d]\d \d\d:\d\d:\d\d \S+ CEF:0\|", m) for m in got)
    assert [parse_cef(m)[1]["msg"] for m in got] == [make_alert(i).description
                                                      for i in range(3)]


def test_tls_delivery(tls_receiver, tls_cert) -> None:
    s = SyslogSender(f"syslog+tls://127.0.0.1:{tls_receiver.port}?ca={tls_cert[0]}")
    s.send(s.frame(format_cef(make_alert(2), "update", URL),
                   "DirectoryServicesReplicationSecurityAlert"))
    got = tls_receiver.wait(1)
    s.close()
    _check_5424(got[0])
    assert parse_cef(got[0])[1]["cs2"] == "update"


def test_tls_rejects_unknown_certificate(tls_receiver) -> None:
    import pytest

    s = SyslogSender(f"syslog+tls://127.0.0.1:{tls_receiver.port}", timeout=3)
    with pytest.raises(OSError, match=r"CERTIFICATE_VERIFY_FAILED|certificate"):
        s.send("<13>1 - - CEF - - - CEF:0|x")
