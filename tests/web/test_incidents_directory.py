"""Portal: incidents (page, API), directory data and lateral movement paths on entity pages,
response actions (admin only, CSRF, confirmation, audit) and report downloads."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from portal_helpers import csrf_of, login

from dcwatch.entities.directory import load_bloodhound
from dcwatch.store.directory import DirectoryStore
from dcwatch.store.portal import Portal

TESTS = Path(__file__).resolve().parents[1]
BH = TESTS / "data" / "bloodhound"
ALICE = "/entity?kind=user&name=CONTOSO%5Calice"
HD = "/entity?kind=user&name=CONTOSO%5Chd.admin"


@pytest.fixture
def directory(store) -> None:
    snap = load_bloodhound([str(BH)], collected_at=datetime.now(UTC))
    DirectoryStore(store).save_snapshot(snap)


@pytest.fixture
def mock_dc(app):
    import sys

    sys.path.insert(0, str(TESTS.parent))
    from tests.entities.mockdir import BASE, mock_connection

    conn = mock_connection()

    class Keep:  # one mock directory across requests (unbind must not drop it)
        def __getattr__(self, name):
            return getattr(conn, name)

        def unbind(self) -> None:
            pass

    app.state.response_connect = Keep
    app.state.response_base = BASE
    return conn


def test_incidents_page_and_api(client, store) -> None:
    login(client, "vic")
    r = client.get("/incidents")
    assert r.status_code == 200
    links = re.findall(r'href="/incidents/([0-9a-f]{16})"', r.text)
    assert links
    page = client.get(f"/incidents/{links[0]}")
    assert page.status_code == 200
    assert "Attack story" in page.text
    assert 'href="/alerts/alert' in page.text
    api = client.get("/api/v1/incidents").json()
    assert api["total"] == len(set(links))
    one = client.get(f"/api/v1/incidents/{links[0]}").json()
    assert one["id"] == links[0]
    assert one["alerts"][0]["id"].startswith("alert")
    assert one["url"] == f"http://dcwatch.test/incidents/{links[0]}"
    assert client.get("/api/v1/incidents/0000000000000000").status_code == 404
    assert client.get("/incidents/nope").status_code == 404


def test_incidents_api_needs_auth(client) -> None:
    assert client.get("/api/v1/incidents").status_code == 401


def test_entity_page_shows_directory_and_paths(client, directory) -> None:
    login(client, "vic")
    r = client.get(HD)
    assert r.status_code == 200
    assert "S-1-5-21-3990289225-2346223702-4027528876-1105" in r.text
    assert "member of Account Operators" in r.text
    assert "Lateral movement paths" in r.text
    assert "<svg" in r.text
    assert "admin on WS2 → logged into by CONTOSO\\da.admin" in r.text
    assert "Response actions" not in r.text  # viewers see no actions


def test_response_action_flow(client, directory, mock_dc, store) -> None:
    login(client, "adm")
    page = client.get(ALICE)
    assert "Response actions" in page.text
    csrf = csrf_of(client, ALICE)
    plan = client.post("/respond/plan", data={"csrf": csrf, "action": "disable-user",
                                              "name": "CONTOSO\\alice"})
    assert plan.status_code == 200
    assert "Dry run." in plan.text
    assert "userAccountControl" in plan.text
    token = re.search(r'name="confirm" value="([0-9a-f]+)"', plan.text).group(1)
    # the confirmation is bound to the action and account
    bad = client.post("/respond/apply", data={"csrf": csrf, "action": "disable-user",
                                              "name": "CONTOSO\\bob", "confirm": token})
    assert bad.status_code == 400
    done = client.post("/respond/apply", data={"csrf": csrf, "action": "disable-user",
                                               "name": "CONTOSO\\alice", "confirm": token})
    assert done.status_code == 200
    assert "Done." in done.text
    mock_dc.search("CN=alice,CN=Users,DC=contoso,DC=local", "(objectClass=*)",
                   search_scope="BASE", attributes=["userAccountControl"])
    assert "514" in str(mock_dc.response[0]["attributes"]["userAccountControl"])
    rows, _ = Portal(store).audit_entries()
    hit = [r for r in rows if r["action"] == "respond.disable-user"]
    assert hit
    assert hit[0]["actor"] == "adm"
    assert hit[0]["detail"]["target"] == "CONTOSO\\alice"


def test_response_actions_need_admin_and_csrf(client, directory, mock_dc) -> None:
    login(client, "ana")
    csrf = csrf_of(client, ALICE)
    r = client.post("/respond/plan", data={"csrf": csrf, "action": "disable-user",
                                           "name": "alice"})
    assert r.status_code == 403
    client.post("/logout", data={"csrf": csrf})
    login(client, "adm")
    r = client.post("/respond/plan", data={"csrf": "forged", "action": "disable-user",
                                           "name": "alice"})
    assert r.status_code == 403
    r = client.post("/respond/apply", data={"csrf": csrf_of(client, ALICE),
                                            "action": "disable-user", "name": "alice"})
    assert r.status_code == 400  # no confirmation from a dry run


def test_refused_action_is_shown_and_audited(client, directory, mock_dc, store) -> None:
    login(client, "adm")
    csrf = csrf_of(client, ALICE)
    r = client.post("/respond/plan", data={"csrf": csrf, "action": "disable-user",
                                           "name": "krbtgt"})
    assert r.status_code == 400
    assert "never changed" in r.text


def test_reports_download(client, directory) -> None:
    login(client, "vic")
    assert "Lateral movement paths to sensitive accounts" in client.get("/reports").text
    x = client.get("/reports/summary.xlsx")
    assert x.status_code == 200
    assert x.content[:2] == b"PK"
    h = client.get("/reports/lateral-movement.html")
    assert h.status_code == 200
    assert "CONTOSO\\da.admin" in h.text
    assert client.get("/reports/nope.xlsx").status_code == 404
