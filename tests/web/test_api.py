"""REST API: bearer tokens, pagination, filters, status changes, exclusions CRUD, OpenAPI."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from portal_helpers import login, make_alert

from dcwatch.store import Store
from dcwatch.store.portal import Portal
from dcwatch.web.app import create_app


@pytest.fixture
def tokens(portal: Portal) -> dict[str, dict[str, str]]:
    return {u: {"Authorization": f"Bearer {portal.create_token(u, 'test')}"}
            for u in ("adm", "ana", "vic")}


def test_pagination_limit_offset_total(tmp_path, tokens) -> None:
    st = Store(str(tmp_path / "many.db"))
    st.save_alerts([make_alert(i, n_acts=1) for i in range(120)])
    p = Portal(st)
    p.add_user("bob", "viewer", "password-123")
    h = {"Authorization": f"Bearer {p.create_token('bob', 't')}"}
    c = TestClient(create_app(st))
    seen = []
    offset = 0
    while True:
        r = c.get("/api/v1/alerts", params={"limit": 50, "offset": offset}, headers=h)
        assert r.status_code == 200
        body = r.json()
        assert body["total"] == 120
        assert body["limit"] == 50
        assert body["offset"] == offset
        if not body["items"]:
            break
        seen += [a["id"] for a in body["items"]]
        offset += 50
    assert len(seen) == 120
    assert len(set(seen)) == 120
    assert seen[0] == "alert000119"  # newest first
    assert c.get("/api/v1/alerts", params={"limit": 5000}, headers=h).status_code == 422


def test_filters_and_get(client: TestClient, tokens) -> None:
    h = tokens["vic"]
    body = client.get("/api/v1/alerts", params={"severity": "high"}, headers=h).json()
    assert {a["id"] for a in body["items"]} == {"alert000000", "alert000003"}
    body = client.get("/api/v1/alerts", params={"entity": "alice"}, headers=h).json()
    assert [a["id"] for a in body["items"]] == ["alert000004"]
    body = client.get("/api/v1/alerts", params={"since": "2024-03-01T08:03:00Z"},
                      headers=h).json()
    assert body["total"] == 2
    a = client.get("/api/v1/alerts/alert000001", headers=h).json()
    assert a["external_id"] == 2006
    assert a["url"] == "http://dcwatch.test/alerts/alert000001"
    assert {e["role"] for e in a["entities"]} >= {"attacker", "source computer"}
    assert client.get("/api/v1/alerts/nope", headers=h).status_code == 404
    acts = client.get("/api/v1/alerts/alert000001/activities", params={"limit": 2},
                      headers=h).json()
    assert acts["total"] == 3
    assert len(acts["items"]) == 2
    assert acts["items"][0]["fields"]["command_line"].startswith("cmd.exe")
    ents = client.get("/api/v1/alerts/alert000001/entities", headers=h).json()
    assert len(ents) == 3
    found = client.get("/api/v1/entities", params={"q": "mallory"}, headers=h).json()
    assert found["items"][0]["name"] == "CONTOSO\\mallory"
    assert found["items"][0]["alerts"] == 4
    ent = client.get("/api/v1/entities/user", params={"name": "CONTOSO\\mallory"},
                     headers=h).json()
    assert ent["alerts"] == 4
    assert ent["recent_activities"]


def test_update_alert_roles(client: TestClient, tokens, portal: Portal) -> None:
    r = client.patch("/api/v1/alerts/alert000001", json={"status": "suppressed"},
                     headers=tokens["vic"])
    assert r.status_code == 403
    r = client.patch("/api/v1/alerts/alert000001", json={"status": "closed"},
                     headers=tokens["ana"])
    assert r.status_code == 422  # classification required
    r = client.patch("/api/v1/alerts/alert000001",
                     json={"status": "closed", "classification": "true-positive",
                           "assigned_to": "ana", "comment": "confirmed"},
                     headers=tokens["ana"])
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "closed"
    assert body["classification"] == "true-positive"
    assert body["assigned_to"] == "ana"
    actions = {x["action"] for x in portal.audit_entries("alert000001")[0]}
    assert {"status.closed", "assign"} <= actions
    r = client.patch("/api/v1/alerts/alert000002",
                     json={"status": "closed", "classification": "false-positive",
                           "exclude": True}, headers=tokens["ana"])
    assert r.status_code == 200
    assert portal.list_exclusions()[1] == 2
    r = client.patch("/api/v1/alerts/alert000003", json={"status": "deleted"},
                     headers=tokens["ana"])
    assert r.status_code == 200
    assert portal.alert("alert000003") is None


def test_session_cookie_api_needs_csrf_header(client: TestClient) -> None:
    csrf = login(client, "ana")
    assert client.get("/api/v1/alerts").status_code == 200
    r = client.patch("/api/v1/alerts/alert000001", json={"status": "suppressed"})
    assert r.status_code == 403
    r = client.patch("/api/v1/alerts/alert000001", json={"status": "suppressed"},
                     headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200


def test_exclusions_crud(client: TestClient, tokens) -> None:
    new = {"slug": "dcsync", "kind": "user", "value": "CONTOSO\\svc_aadsync",
           "comment": "Entra Connect"}
    assert client.post("/api/v1/exclusions", json=new, headers=tokens["ana"]
                       ).status_code == 403
    r = client.post("/api/v1/exclusions", json=new, headers=tokens["adm"])
    assert r.status_code == 201
    x = r.json()
    assert x["author"] == "adm"
    assert x["value"] == "CONTOSO\\svc_aadsync"
    lst = client.get("/api/v1/exclusions", headers=tokens["vic"]).json()
    assert lst["total"] == 1
    r = client.patch(f"/api/v1/exclusions/{x['id']}", json={"kind": "any"},
                     headers=tokens["adm"])
    assert r.status_code == 200
    assert r.json()["kind"] == "any"
    assert client.get(f"/api/v1/exclusions/{x['id']}", headers=tokens["vic"]
                      ).json()["kind"] == "any"
    assert client.post("/api/v1/exclusions", json={**new, "kind": "planet"},
                       headers=tokens["adm"]).status_code == 422
    assert client.delete(f"/api/v1/exclusions/{x['id']}", headers=tokens["vic"]
                         ).status_code == 403
    assert client.delete(f"/api/v1/exclusions/{x['id']}", headers=tokens["adm"]
                         ).status_code == 204
    assert client.get(f"/api/v1/exclusions/{x['id']}", headers=tokens["adm"]
                      ).status_code == 404


def test_openapi_document(client: TestClient, tokens) -> None:
    spec = client.get("/api/v1/openapi.json", headers=tokens["vic"]).json()
    paths = spec["paths"]
    for p in ("/api/v1/alerts", "/api/v1/alerts/{alert_id}",
              "/api/v1/alerts/{alert_id}/activities", "/api/v1/exclusions",
              "/api/v1/exclusions/{xid}", "/api/v1/entities"):
        assert p in paths, p
    assert "patch" in paths["/api/v1/alerts/{alert_id}"]
    assert not any(p.startswith("/alerts") for p in paths)  # pages stay out of the API doc
