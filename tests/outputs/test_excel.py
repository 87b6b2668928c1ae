"""Excel reports open in openpyxl with the expected sheets, types, frozen header, filters."""

from __future__ import annotations

import io
from datetime import datetime

import pytest
from portal_helpers import make_alert

from dcwatch.outputs.excel import alert_workbook, alerts_workbook

openpyxl = pytest.importorskip("openpyxl")


def test_alert_workbook_sheets_and_types() -> None:
    a = make_alert(1)
    data = alert_workbook(a, "http://dcwatch.test/alerts/alert000001", related=[make_alert(2)])
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["Summary", "Attacker", "Source computer",
                             "Target domain controller", "Network activities",
                             "Event activities", "Replication requests", "Attempts",
                             "Related entities"]
    s = wb["Summary"]
    rows = {r[0].value: r[1].value for r in s.iter_rows(min_row=2)}
    assert rows["Title"] == a.title
    assert isinstance(rows["Start time (UTC)"], datetime)
    assert rows["Start time (UTC)"] == a.first_seen.replace(tzinfo=None)
    assert rows["Severity"] == "High"
    assert rows["View in browser"] == "http://dcwatch.test/alerts/alert000001"
    ev = wb["Event activities"]
    assert ev.freeze_panes == "A2"
    assert ev.auto_filter.ref.startswith("A1:")
    header = [c.value for c in ev[1]]
    assert header[0] == "Time (UTC)"
    assert isinstance(ev["A2"].value, datetime)
    assert ev.max_row == 4  # header + 3 activities
    assert isinstance(ev.cell(2, header.index("Event ID") + 1).value, int)
    assert "whoami" in ev.cell(2, header.index("Details") + 1).value
    assert wb["Network activities"].max_row == 1
    att = wb["Attacker"]
    assert [c.value for c in att[2]][:2] == ["CONTOSO\\mallory", "user"]
    assert att.freeze_panes == "A2"
    rel = wb["Related entities"]
    assert [c.value for c in rel[1]] == ["ID", "Type", "Name", "Unique Entity Json",
                                         "Unique Entity Profile Json"]
    assert rel.max_row == 4


def test_alert_list_workbook() -> None:
    data = alerts_workbook([make_alert(i) for i in range(4)], "http://x")
    wb = openpyxl.load_workbook(io.BytesIO(data))
    assert wb.sheetnames == ["Alerts", "Entities"]
    al = wb["Alerts"]
    assert al.max_row == 5
    assert isinstance(al["A2"].value, datetime)
    assert al.freeze_panes == "A2"
    assert al.auto_filter.ref
    assert wb["Entities"].max_row == 13


def test_download_routes(tmp_path) -> None:
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient
    from portal_helpers import login

    from dcwatch.store import Store
    from dcwatch.store.portal import Portal
    from dcwatch.web.app import create_app

    st = Store(str(tmp_path / "x.db"))
    st.save_alerts([make_alert(i) for i in range(3)])
    Portal(st).add_user("vic", "viewer", "password-123")
    c = TestClient(create_app(st))
    login(c, "vic", "password-123")
    r = c.get("/alerts/alert000001/details.xlsx")
    assert r.status_code == 200
    assert "attachment" in r.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames[0] == "Summary"
    assert wb["Event activities"].max_row == 4
    r = c.get("/alerts.xlsx?severity=high")
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb["Alerts"].max_row == 4
