"""Browser tests: chromium (Debian's) driven by Playwright against a real uvicorn server.

Screenshots go to artifacts/screenshots/*.png. Skipped when playwright or chromium is missing.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from portal_helpers import PASSWORD, make_alert

from dcwatch.store import Store
from dcwatch.store.portal import Portal

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SAMPLES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "evtx-attack-samples"
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _fill(st: Store) -> None:
    """Alerts from the EVTX attack samples when present, plus synthetic ones."""
    files = sorted(glob.glob(str(SAMPLES / "**" / "*.evtx"), recursive=True))
    if files:
        from dcwatch.detectors import registry
        from dcwatch.pipeline import ScanOptions, scan

        result = scan(ScanOptions([str(SAMPLES)]))
        st.save_alerts(result.alerts, {s: c.update_window for s, c in registry().items()})
    st.save_alerts([make_alert(i, severity=["high", "medium", "low"][i % 3],
                               phase=["credential-access", "reconnaissance",
                                      "lateral-movement"][i % 3]) for i in range(8)])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pw = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    del pw
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    import uvicorn

    from dcwatch.web.app import create_app

    st = Store(str(tmp_path_factory.mktemp("browser") / "b.db"))
    _fill(st)
    Portal(st).add_user("ana", "analyst", PASSWORD)
    port = _free_port()
    cfg = uvicorn.Config(create_app(st), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(cfg)
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(timeout=10)


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[object]:
    from playwright.sync_api import Error, sync_playwright

    with sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        except Error as e:
            pytest.skip(f"chromium does not start: {e}")
        yield b
        b.close()


def test_login_timeline_alert_excel(server: str, browser, tmp_path: Path) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    ctx = browser.new_context(viewport={"width": 1440, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    page.goto(server + "/alerts")
    assert "/login" in page.url
    page.screenshot(path=str(SHOTS / "01-login.png"))
    page.fill("input[name=username]", "ana")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/alerts")
    assert page.locator(".alert-card").count() >= 8
    assert page.locator(".phase-tile").count() == 7
    page.screenshot(path=str(SHOTS / "02-timeline.png"), full_page=True)

    # open the newest DCSync alert from the recording when there is one, else a synthetic one
    card = page.locator(".alert-card h3 a", has_text="DCSync").first
    card.click()
    page.wait_for_selector("#activity-log")
    assert page.locator(".entities-col .role-group").count() >= 1
    assert page.locator("#activity-log tbody tr").count() >= 1
    assert page.locator("text=Download details").is_visible()
    page.screenshot(path=str(SHOTS / "03-alert.png"), full_page=True)

    with page.expect_download() as dl:
        page.click("#download")
    target = tmp_path / "details.xlsx"
    dl.value.save_as(str(target))
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.load_workbook(target)
    assert wb.sheetnames[0] == "Summary"
    assert "Event activities" in wb.sheetnames
    assert wb.sheetnames[-1] == "Related entities"

    # close with a classification, through the form
    page.select_option("select[name=action]", "close")
    page.select_option("select[name=classification]", "true-positive")
    page.fill("#status-form textarea[name=comment]", "Confirmed with the DC owner.")
    page.click("#status-form button[type=submit]")
    page.wait_for_selector(".flash")
    assert page.locator(".ah-meta .status-closed").is_visible()
    assert page.locator("text=Confirmed with the DC owner.").first.is_visible()

    # an entity page, then search
    page.locator(".entities-col .entity-link").first.click()
    page.wait_for_selector(".entity-head")
    page.screenshot(path=str(SHOTS / "04-entity.png"), full_page=True)
    page.fill("header input[name=q]", "mallory")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search?q=mallory")
    assert page.locator("text=CONTOSO\\mallory").first.is_visible()
    page.screenshot(path=str(SHOTS / "05-search.png"), full_page=True)
    ctx.close()


def test_demo_banner(server: str, browser, tmp_path_factory: pytest.TempPathFactory) -> None:
    import uvicorn

    from dcwatch.web.app import create_app

    st = Store(str(tmp_path_factory.mktemp("demo") / "d.db"))
    st.save_alerts([make_alert(i) for i in range(3)])
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app(st, demo=True), host="127.0.0.1", port=port,
                                        log_level="warning"))
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    try:
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"http://127.0.0.1:{port}/alerts/alert000001")
        assert page.locator(".demo-banner").is_visible()
        assert page.locator("text=Manage alert").count() == 0
        page.screenshot(path=str(SHOTS / "06-demo-alert.png"), full_page=True)
        page.close()
    finally:
        srv.should_exit = True
        t.join(timeout=10)
