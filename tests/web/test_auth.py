"""Authentication, sessions, roles, CSRF and the audit trail of the portal pages."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from portal_helpers import PASSWORD, csrf_of, login

from dcwatch.web.app import create_app


def test_pages_redirect_to_login_without_session(client: TestClient) -> None:
    for path in ("/", "/alerts", "/alerts/alert000001", "/entity?kind=user&name=x",
                 "/search?q=a", "/exclusions", "/audit", "/alerts.xlsx",
                 "/alerts/alert000001/details.xlsx"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303, path
        assert r.headers["location"].startswith("/login?next="), path
        assert "mallory" not in r.text


def test_api_needs_authentication(client: TestClient) -> None:
    for path in ("/api/v1/alerts", "/api/v1/alerts/alert000001", "/api/v1/openapi.json",
                 "/api/v1/exclusions", "/api/v1/entities"):
        r = client.get(path)
        assert r.status_code == 401, path
        assert r.headers["www-authenticate"] == "Bearer"
        assert "mallory" not in r.text
    assert client.get("/api/v1/alerts", headers={"Authorization": "Bearer nope"}
                      ).status_code == 401


def test_no_cdn_and_no_swagger(client: TestClient) -> None:
    assert client.get("/docs").status_code == 404
    r = client.get("/login")
    assert "http://" not in r.text
    assert "https://" not in r.text
    assert client.get("/static/style.css").status_code == 200
    assert client.get("/static/app.js").status_code == 200


def test_login_sets_httponly_lax_cookie(client: TestClient) -> None:
    r = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    r = client.post("/login", data={"username": "ana", "password": PASSWORD, "csrf": token},
                    follow_redirects=False)
    assert r.status_code == 303
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith("dcw_session="))
    assert "HttpOnly" in cookie
    assert "samesite=lax" in cookie.lower()
    assert "Secure" not in cookie
    assert client.get("/alerts").status_code == 200


def test_secure_cookie_when_https(store) -> None:
    c = TestClient(create_app(store, secure_cookies=True), base_url="https://testserver")
    r = c.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    r = c.post("/login", data={"username": "ana", "password": PASSWORD, "csrf": token},
               follow_redirects=False)
    cookie = next(x for x in r.headers.get_list("set-cookie") if x.startswith("dcw_session="))
    assert "Secure" in cookie


def test_wrong_password_and_login_csrf(client: TestClient, portal) -> None:
    r = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    r = client.post("/login", data={"username": "ana", "password": "wrong", "csrf": token},
                    follow_redirects=False)
    assert r.status_code == 303
    assert "error=1" in r.headers["location"]
    assert client.get("/alerts", follow_redirects=False).status_code == 303
    # login form without its double-submit token
    r = client.post("/login", data={"username": "ana", "password": PASSWORD},
                    follow_redirects=False)
    assert r.status_code == 403
    rows, _ = portal.audit_entries()
    assert any(x["action"] == "login.failed" and x["actor"] == "ana" for x in rows)


def test_open_redirect_is_refused(client: TestClient) -> None:
    r = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    r = client.post("/login", data={"username": "ana", "password": PASSWORD, "csrf": token,
                                    "next": "//evil.example/x"}, follow_redirects=False)
    assert r.headers["location"] == "/alerts"


def test_post_without_csrf_is_403(client: TestClient, portal) -> None:
    login(client, "ana")
    r = client.post("/alerts/alert000001/status",
                    data={"action": "close", "classification": "false-positive"})
    assert r.status_code == 403
    r = client.post("/alerts/alert000001/status",
                    data={"action": "close", "classification": "false-positive",
                          "csrf": "forged"})
    assert r.status_code == 403
    assert portal.alert("alert000001").alert.status == "open"


def test_viewer_cannot_change_anything(client: TestClient, portal) -> None:
    csrf = login(client, "vic")
    assert "Manage alert" not in client.get("/alerts/alert000001").text
    for path, data in (("/alerts/alert000001/status", {"action": "suppress"}),
                       ("/alerts/alert000001/comment", {"text": "hi"}),
                       ("/alerts/alert000001/assign", {"assignee": "vic"}),
                       ("/exclusions", {"kind": "user", "value": "x"}),
                       ("/admin/users", {"action": "add", "name": "eve"})):
        r = client.post(path, data={**data, "csrf": csrf})
        assert r.status_code == 403, path
    assert portal.alert("alert000001").alert.status == "open"
    assert client.get("/admin/users").status_code == 403
    assert client.get("/alerts/alert000001/details.xlsx").status_code == 200


def test_analyst_workflow_is_audited(client: TestClient, portal) -> None:
    csrf = login(client, "ana")
    r = client.post("/alerts/alert000001/status", data={"action": "close", "csrf": csrf})
    assert r.status_code == 400  # closing needs a classification
    r = client.post("/alerts/alert000001/status",
                    data={"action": "close", "classification": "benign-true-positive",
                          "comment": "pen test", "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    v = portal.alert("alert000001")
    assert v.alert.status == "closed"
    assert v.classification == "benign-true-positive"
    assert client.post("/alerts/alert000001/assign",
                       data={"assignee": "adm", "csrf": csrf}).status_code == 200
    assert portal.alert("alert000001").assigned_to == "adm"
    assert client.post("/alerts/alert000001/comment",
                       data={"text": "checked with the red team", "csrf": csrf}
                       ).status_code == 200
    client.post("/alerts/alert000001/status", data={"action": "reopen", "csrf": csrf})
    client.post("/alerts/alert000001/status", data={"action": "suppress", "csrf": csrf})
    assert portal.alert("alert000001").alert.status == "suppressed"
    rows, _ = portal.audit_entries("alert000001")
    actions = [r["action"] for r in rows]
    assert {"status.closed", "assign", "comment", "status.open", "status.suppressed"} <= set(
        actions)
    assert all(r["actor"] == "ana" for r in rows)
    page = client.get("/alerts/alert000001").text
    assert "checked with the red team" in page
    assert "pen test" in page
    assert "status.closed" in page  # history section


def test_close_and_exclude_creates_exclusions(client: TestClient, portal) -> None:
    csrf = login(client, "ana")
    r = client.post("/alerts/alert000002/status",
                    data={"action": "close_exclude", "classification": "false-positive",
                          "csrf": csrf})
    assert r.status_code == 200
    rows, _ = portal.list_exclusions()
    got = {(x["slug"], x["kind"], x["value"]) for x in rows}
    assert got == {("dcsync", "user", "CONTOSO\\mallory"), ("dcsync", "computer", "WS01")}
    assert all(x["alert_id"] == "alert000002" and x["author"] == "ana" for x in rows)
    ex = portal.engine_exclusions()
    assert len(ex) == 2
    assert ex[0].slug == "dcsync"


def test_delete_removes_alert(client: TestClient, portal) -> None:
    csrf = login(client, "ana")
    r = client.post("/alerts/alert000003/status", data={"action": "delete", "csrf": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"].startswith("/alerts")
    assert portal.alert("alert000003") is None
    assert client.get("/alerts/alert000003").status_code == 404
    rows, _ = portal.audit_entries("alert000003")
    assert rows[0]["action"] == "status.deleted"


def test_one_time_password_forces_change(client: TestClient, portal) -> None:
    _, otp = portal.add_user("newbie", "analyst")
    r = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', r.text).group(1)
    r = client.post("/login", data={"username": "newbie", "password": otp, "csrf": token},
                    follow_redirects=False)
    assert r.headers["location"] == "/account/password"
    r = client.get("/alerts", follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == "/account/password"
    csrf = csrf_of(client, "/account/password")
    r = client.post("/account/password", data={"current": otp, "new": "a-new-secret",
                                               "confirm": "a-new-secret", "csrf": csrf},
                    follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/alerts").status_code == 200
    assert portal.authenticate("newbie", "a-new-secret") is not None
    assert portal.authenticate("newbie", otp) is None


def test_admin_manages_users_and_tokens(client: TestClient, portal) -> None:
    csrf = login(client, "adm")
    r = client.post("/admin/users", data={"action": "add", "name": "eve", "role": "viewer",
                                          "csrf": csrf})
    assert r.status_code == 200
    otp = re.search(r'class="secret">([^<]+)<', r.text).group(1)
    assert portal.authenticate("eve", otp) is not None
    r = client.post("/admin/users", data={"action": "token", "name": "eve", "label": "siem",
                                          "csrf": csrf})
    token = re.search(r'class="secret">(dcw_[^<]+)<', r.text).group(1)
    assert client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"}
                      ).status_code == 200
    client.post("/admin/users", data={"action": "delete", "name": "eve", "csrf": csrf})
    assert portal.get_user("eve") is None
    assert client.get("/api/v1/alerts", headers={"Authorization": f"Bearer {token}"}
                      ).status_code == 401
    r = client.post("/exclusions", data={"slug": "*", "kind": "ip", "value": "10.9.9.9",
                                         "csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert "10.9.9.9" in client.get("/exclusions").text
    assert any(x["action"] == "user.add" for x in portal.audit_entries()[0])


def test_logout_ends_session(client: TestClient) -> None:
    csrf = login(client, "ana")
    r = client.post("/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/alerts", follow_redirects=False).status_code == 303


def test_demo_mode_is_read_only(store) -> None:
    c = TestClient(create_app(store, demo=True))
    r = c.get("/alerts")
    assert r.status_code == 200
    assert "DEMO" in r.text
    assert "mallory" in r.text
    assert "Manage alert" not in c.get("/alerts/alert000001").text
    r = c.post("/alerts/alert000001/status", data={"action": "suppress", "csrf": ""})
    assert r.status_code == 403
    assert c.get("/api/v1/alerts").status_code == 401  # the API still needs a token


def test_pages_render(client: TestClient) -> None:
    login(client, "ana")
    r = client.get("/alerts?severity=high")
    assert r.status_code == 200
    assert "alert000003" in r.text
    assert "alert000001" not in r.text
    r = client.get("/alerts?entity=alice")
    assert "alert000004" in r.text
    assert "alert000003" not in r.text
    page = client.get("/alerts/alert000001").text
    for part in ("Entities", "Attacker", "Source computer", "Activity log", "Evidence",
                 "cmd.exe /c whoami #1-0", "Related alerts", "Download details",
                 "/entity?kind=user&amp;name=CONTOSO%5Cmallory"):
        assert part in page, part
    r = client.get("/entity", params={"kind": "user", "name": "CONTOSO\\mallory"})
    assert r.status_code == 200
    assert "S-1-5-21-1-2-3-1001" in r.text
    assert "whoami" in r.text
    r = client.get("/entity", params={"kind": "computer", "name": "WS01"})
    assert r.status_code == 200
    assert "10.0.0.2" in r.text
    r = client.get("/search", params={"q": "alice"})
    assert "CONTOSO\\alice" in r.text
    assert "alert000004" in r.text
    assert client.get("/audit").status_code == 200
    assert "/api/v1/alerts" in client.get("/api").text


def test_timeline_and_its_excel_share_one_filter(client: TestClient) -> None:
    import io

    from openpyxl import load_workbook

    login(client, "ana")
    r = client.get("/alerts", params={"severity": "high", "since": "2000-01-01",
                                      "status": "no-such-status"})  # unknown values: ignored
    assert r.status_code == 200
    assert "alert000003" in r.text
    assert "alert000001" not in r.text
    assert 'value="2000-01-01"' in r.text  # the typed text comes back in the form
    assert "alert000003" not in client.get("/alerts", params={"until": "2000-01-01"}).text
    wb = load_workbook(io.BytesIO(client.get("/alerts.xlsx", params={"severity": "high"}).content))
    cells = {str(c.value) for ws in wb.worksheets for row in ws.iter_rows() for c in row}
    assert any("alert000003" in c for c in cells)
    assert not any("alert000001" in c for c in cells)
