"""The console in real Chromium (Debian's /usr/bin/chromium driven by Playwright): log in, find a lead
by externId, open its timeline, replay a dead lead, release a hold, see the header change when the
dispatcher stops. With SCREENSHOTS_DIR set, each page is saved at desktop and phone width (docs)."""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from harness.processes import wait_for
from tests.admin.helpers import CONFIG, SOURCE_TOKEN, TOKEN, lead_body

# Chromium against the service under gunicorn.
pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
if not (Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)):
    pytest.skip(
        "browser tests need Debian's chromium (apt-get install -y chromium; .ci/run installs it)",
        allow_module_level=True,
    )
playwright = pytest.importorskip("playwright.sync_api", reason="browser tests need playwright (requirements-dev.txt)")

SIZES = {"desktop": (1280, 900), "phone": (390, 844)}


def post(url: str, n: int) -> int:
    """One webhook; returns the lead id."""
    response = requests.post(
        f"{url}/webhooks/hubspot",
        data=lead_body(n),
        timeout=10,
        headers={"Content-Type": "application/json", "X-Leadrelay-Token": SOURCE_TOKEN},
    )
    assert response.status_code == 202, response.text
    return response.json()["leads"][0]["lead_id"]


def set_status(db_url: str, lead_id: int, status: str, error: str) -> None:
    """Put a lead in a state the dispatcher would have left it in."""
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE leads SET status=:s, last_error=:e, updated_at=:t WHERE id=:id"),
            {"s": status, "e": error, "t": time.time(), "id": lead_id},
        )
    engine.dispose()


@pytest.fixture
def running(tmp_path, stack):
    """The service under gunicorn (worker mode, sandbox Engage, SQLite) and a separate dispatcher."""
    # Alerts evaluated every second (no receiver: they show in the header and the open-alerts box).
    (tmp_path / "leadrelay.yml").write_text(CONFIG + "alerts:\n  check_every: 1s\n")
    db_url = f"sqlite:///{tmp_path / 'leadrelay.db'}"
    # Sandbox Engage: the console needs no Engage process, and its header shows SANDBOX.
    return stack(db_url, engage={"ENGAGE_MODE": "sandbox"}, workers=1, ADMIN_TOKEN=TOKEN)


@pytest.fixture
def browser():
    """Headless Chromium from the system package (no browser download)."""
    with playwright.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield instance
        instance.close()


def reload_text(page, selector: str) -> str:
    """Reload the page and read one element's text."""
    page.reload()
    return page.inner_text(selector)


def shoot(page, name: str) -> None:
    """Save this page at desktop and phone width when SCREENSHOTS_DIR is set (docs/console.md)."""
    folder = os.environ.get("SCREENSHOTS_DIR")
    if not folder:
        return
    current = page.viewport_size
    for size, (width, height) in SIZES.items():
        page.set_viewport_size({"width": width, "height": height})
        page.screenshot(path=str(Path(folder) / f"console-{name}-{size}.png"), full_page=size == "desktop")
    page.set_viewport_size(current)


def test_operator_flow_in_chromium(running, browser):
    """Log in → find by externId → timeline → replay a dead lead → release a hold → header shows the stop."""
    web, worker, db_url = running.web, running.workers[0], running.db_url
    ids = [post(web.url, n) for n in range(1, 5)]
    wait_for(
        lambda: (
            requests.get(f"{web.url}/admin/api/leads", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
            .json()["counts"]
            .get("delivered")
            == 4
        ),
        30,
        message="4 delivered",
    )
    dead, held = ids[0], ids[1]
    set_status(db_url, dead, "dead", "retry budget spent; last error: Engage unavailable: connection refused")
    set_status(db_url, held, "held", "campaign 'Hot Inbound' breaker open: campaign not found (404)")

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{web.url}/admin/leads")
    assert "/admin/login" in page.url  # no lead data without logging in
    shoot(page, "login")
    page.fill("input[name=token]", "not-the-token")
    page.click("button[type=submit]")
    assert "not the admin token" in page.inner_text("#login-error")
    page.fill("input[name=token]", TOKEN)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/leads")
    assert page.inner_text("#mode").startswith("SANDBOX")
    # The header reads a snapshot cached up to 5 s (the one /readyz took before the dispatcher led).
    wait_for(
        lambda: reload_text(page, "#dispatcher") == "dispatcher up",
        10,
        interval=0.5,
        message="header shows the dispatcher up",
    )
    shoot(page, "leads")

    # Find a lead by its externId and open its timeline.
    extern = str(70000000 + 3)
    page.fill("input[name=q]", extern)
    page.click("#filters button")
    rows = page.locator("#leads a")
    assert rows.count() == 1 and rows.first.inner_text() == extern
    rows.first.click()
    assert page.inner_text("#lead-status") == "delivered"
    timeline = page.inner_text("#timeline")
    assert "Received" in timeline and "Attempt" in timeline and "delivered" in timeline
    shoot(page, "lead")

    # Replay the dead lead: POST with the form's CSRF token; the timeline records who did it.
    page.goto(f"{web.url}/admin/leads/{dead}")
    assert page.inner_text("#lead-status") == "dead"
    # The dead lead and the held campaign are open alerts in the header of every page.
    wait_for(lambda: reload_text(page, "#alerts") == "2 open alerts", 15, interval=0.5, message="alerts in the header")
    assert "lead_dead" in page.inner_text("#open-alerts") and "campaign_held" in page.inner_text("#open-alerts")
    shoot(page, "lead-dead")
    page.click("#replay-form button")
    assert "Replayed" in page.inner_text("#notice")
    assert re.search(r"Replay \S+ \S+ UTC by session:", page.inner_text("#timeline"))
    wait_for(
        lambda: reload_text(page, "#lead-status") == "delivered", 20, interval=0.5, message="replayed lead delivered"
    )

    # Release the hold.
    page.goto(f"{web.url}/admin/holds")
    assert "Hot Inbound" in page.inner_text("#holds")
    shoot(page, "holds")
    page.click("#holds button")
    assert "Released 1 lead" in page.inner_text("#notice")
    assert "Nothing is held" in page.inner_text("#holds")

    page.goto(f"{web.url}/admin/sources")
    assert "hubspot" in page.inner_text("#sources")
    shoot(page, "sources")
    page.goto(f"{web.url}/admin")
    # leads per hour, speed-to-lead, received → first attempt
    assert page.locator("svg.chart").count() == 3
    shoot(page, "overview")

    # Stop the dispatcher: the header says so within the cache period.
    assert worker.terminate() == 0
    post(web.url, 9)
    wait_for(
        lambda: reload_text(page, "#dispatcher") == "dispatcher DOWN",
        20,
        interval=0.5,
        message="header shows the dispatcher down",
    )
    wait_for(lambda: reload_text(page, "#backlog") != "backlog empty", 10, interval=0.5, message="backlog shown")
    shoot(page, "overview-dispatcher-down")
