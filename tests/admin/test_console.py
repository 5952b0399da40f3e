"""The console: auth (bearer, session cookie, throttled login), CSRF, replay/release audited on the
timeline, filters, masking — through the Flask client on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import text

from lead.lifecycle import LeadReason
from store.db import write
from tests.admin.helpers import CONFIG, TOKEN, post_lead

BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(make_app, db_url):
    """The app with ADMIN_TOKEN and two leads."""
    application = make_app(CONFIG, db_url, ADMIN_TOKEN=TOKEN)
    client = application.test_client()
    post_lead(client, 1, email="ada.lovelace@example.com")
    post_lead(client, 2)
    return application


def login(client) -> str:
    """Log in through the form; returns the CSRF token of the session (from a page's form)."""
    response = client.post("/admin/login", data={"token": TOKEN, "next": "/admin/leads"})
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/leads")
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/admin" in cookie and "Secure" not in cookie
    return csrf_of(client.get("/admin/holds").get_data(as_text=True))


def csrf_of(html: str) -> str:
    """The CSRF token in a page (the holds page always renders the header; forms carry it)."""
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    return match.group(1) if match else ""


def set_status(app, lead_id: int, status: str, error: str | None = None, reason: str | None = None) -> None:
    """Put a lead in a state, as the dispatcher would have (the reason column names a hold, the error is text)."""
    with write(app.extensions["leadrelay"].engine) as conn:
        conn.execute(
            text("UPDATE leads SET status=:s, last_error=:e, status_reason=:r, updated_at=:t WHERE id=:id"),
            {"s": status, "e": error, "r": reason, "t": time.time(), "id": lead_id},
        )


def test_without_auth_no_lead_data(app):
    """Pages redirect to the login; the API answers 401; a wrong bearer token too."""
    client = app.test_client()
    for path in ("/admin", "/admin/leads", "/admin/leads/1", "/admin/holds", "/admin/sources"):
        response = client.get(path)
        assert response.status_code == 302 and "/admin/login" in response.headers["Location"]
        assert b"ada" not in response.data
    assert client.get("/admin/leads", headers={"Authorization": "Bearer nope"}).status_code == 302
    assert client.get("/admin/api/leads").status_code == 401
    forged = client.get("/admin/leads", headers={"Cookie": "leadrelay_admin=eyJzaWQiOiJ4In0.forged.sig"})
    assert forged.status_code == 302


def test_bearer_token_on_every_page(app):
    """Scripts may use the bearer token on HTML pages too."""
    client = app.test_client()
    for path in ("/admin", "/admin/leads", "/admin/leads/1", "/admin/holds", "/admin/sources"):
        response = client.get(path, headers=BEARER)
        assert response.status_code == 200, path
        assert "no-store" in response.headers["Cache-Control"]


def test_cookie_is_secure_behind_an_https_proxy(app):
    """Heroku terminates TLS: X-Forwarded-Proto https makes the session cookie Secure."""
    response = app.test_client().post("/admin/login", data={"token": TOKEN}, headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in response.headers["Set-Cookie"]


def test_login_is_throttled(app):
    """Five wrong tokens from one address, then its wrong tokens are refused for a while (429); the right one is not."""
    client = app.test_client()
    for _ in range(5):
        assert client.post("/admin/login", data={"token": "guess"}).status_code == 401
    blocked = client.post("/admin/login", data={"token": "guess"})
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers
    assert client.post("/admin/login", data={"token": TOKEN}).status_code == 302
    # Another client (another socket peer: no proxy is trusted here) is not limited by the first one's guesses.
    other = client.post("/admin/login", data={"token": "guess"}, environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert other.status_code == 401


def test_api_changes_need_the_bearer_token(app):
    """A session cookie reads the API but cannot POST to it (no CSRF token there)."""
    client = app.test_client()
    login(client)
    set_status(app, 1, "dead", "retry budget spent")
    assert client.get("/admin/api/leads/1").status_code == 200
    assert client.post("/admin/api/leads/1/replay").status_code == 401
    assert client.post("/admin/api/leads/1/replay", headers=BEARER).json["status"] == "queued"


def test_session_and_csrf_and_audited_replay(app):
    """A replay needs the session's CSRF token; it is recorded and shown on the lead's timeline."""
    client = app.test_client()
    csrf = login(client)
    assert csrf
    set_status(app, 1, "dead", "retry budget spent; last error: Engage unavailable")
    page = client.get("/admin/leads/1").get_data(as_text=True)
    assert 'id="replay-form"' in page
    assert client.post("/admin/leads/1/replay").status_code == 403
    assert client.post("/admin/leads/1/replay", data={"csrf_token": "0" * 64}).status_code == 403
    done = client.post("/admin/leads/1/replay", data={"csrf_token": csrf})
    assert done.status_code == 302
    timeline = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Replayed: now queued" in timeline and "Replay</strong>" in timeline and "by session:" in timeline
    # Not replayable now: refused with the reason.
    assert client.post("/admin/leads/1/replay", data={"csrf_token": csrf}).status_code == 409


def test_release_a_hold(app):
    """A held campaign is listed with its reason; Release puts its leads back and is audited."""
    client = app.test_client()
    csrf = login(client)
    set_status(
        app, 2, "held", "campaign 'Hot Inbound' breaker open: campaign not found (404)", LeadReason.CAMPAIGN_HOLD
    )
    holds = client.get("/admin/holds").get_data(as_text=True)
    assert "Campaign Hot Inbound" in holds and "breaker open" in holds
    done = client.post("/admin/holds/release", data={"csrf_token": csrf, "scope": "campaign:Hot Inbound"})
    assert done.status_code == 302
    after = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "Released 1 lead" in after and "Nothing is held" in after
    lead = client.get("/admin/api/leads/2", headers=BEARER).json
    assert lead["status"] == "queued" and lead["timeline"][-1]["kind"] == "release"


def test_releasing_one_hold_leaves_the_other_held(app):
    """Releasing the account hold leaves a held campaign held, and releasing the campaign leaves the account's."""
    client = app.test_client()
    csrf = login(client)
    set_status(app, 1, "held", "Engage authentication failed: 401 invalid_grant", LeadReason.ACCOUNT_HOLD)
    set_status(
        app, 2, "held", "campaign 'Hot Inbound' breaker open: campaign not found (404)", LeadReason.CAMPAIGN_HOLD
    )
    holds = client.get("/admin/holds").get_data(as_text=True)
    assert "Campaign Hot Inbound" in holds and "authentication failed" in holds
    done = client.post("/admin/holds/release", data={"csrf_token": csrf, "scope": "account"})
    assert "Released 1 lead of account" in client.get(done.headers["Location"]).get_data(as_text=True)
    status = {n: client.get(f"/admin/api/leads/{n}", headers=BEARER).json["status"] for n in (1, 2)}
    assert status == {1: "queued", 2: "held"}
    # The other way round: the campaign's release leaves an account-held lead of that campaign held.
    set_status(app, 1, "held", "Engage authentication failed: 401 invalid_grant", LeadReason.ACCOUNT_HOLD)
    with write(app.extensions["leadrelay"].engine) as conn:
        conn.execute(text("UPDATE leads SET campaign='Hot Inbound'"))
    client.post("/admin/holds/release", data={"csrf_token": csrf, "scope": "campaign:Hot Inbound"})
    status = {n: client.get(f"/admin/api/leads/{n}", headers=BEARER).json["status"] for n in (1, 2)}
    assert status == {1: "held", 2: "queued"}
    lead = client.get("/admin/api/leads/2", headers=BEARER).json
    assert lead["timeline"][-1]["kind"] == "release" and lead["timeline"][-1]["detail"]["leads"] == 1


def test_search_filters_and_masking(app):
    """q by externId, email and last 4 digits; phones and emails masked on the pages."""
    client = app.test_client()
    extern = client.get("/admin/api/leads/1", headers=BEARER).json["extern_id"]
    for q in (extern, "ada.lovelace@example.com", "0001"):
        page = client.get("/admin/leads", query_string={"q": q}, headers=BEARER).get_data(as_text=True)
        assert page.count('href="/admin/leads/') == 1, q
    assert client.get("/admin/leads?status=bogus", headers=BEARER).status_code == 400
    detail = client.get("/admin/leads/1", headers=BEARER).get_data(as_text=True)
    assert "3035550001" not in detail and "***0001" in detail
    assert "ada.lovelace@example.com" not in detail and f'"externId": "{extern}"' in detail.replace("&#34;", '"')


def test_header_and_pictures(app):
    """Sandbox, dispatcher, backlog and alerts in the header; SVG charts on /admin; sources page."""
    client = app.test_client()
    page = client.get("/admin", headers=BEARER).get_data(as_text=True)
    assert "SANDBOX" in page and "dispatcher DOWN" in page and 'id="backlog"' in page and "open alert" in page
    assert page.count("<svg") == 3 and "Leads per hour by outcome" in page and "Received → first attempt" in page
    sources = client.get("/admin/sources", headers=BEARER).get_data(as_text=True)
    assert "hubspot" in sources and "queued 2" in sources


def test_sources_page_counts_auth_failures_from_the_database(app):
    """Rejected webhooks (nothing stored) are counted per source over 24 h, summed across processes."""
    import threading

    from alerts.runner import AlertRunner

    runtime = app.extensions["leadrelay"]
    loop = AlertRunner(runtime.engine, runtime.settings, threading.Event())
    client = app.test_client()
    for _ in range(3):
        response = client.post(
            "/webhooks/hubspot", data=b"{}", headers={"Content-Type": "application/json", "X-Leadrelay-Token": "wrong"}
        )
        assert response.status_code == 401
    loop.tick()
    loop.tick()  # a second flush adds nothing new
    page = client.get("/admin/sources", headers=BEARER).get_data(as_text=True)
    row = page[page.index(">hubspot<") :]
    assert re.search(r"<td>3</td></tr>", row[:600]), row[:600]


def test_audit_rows_go_after_retention(app):
    """Timeline rows older than retention_days are dropped by the hourly prune; newer ones stay."""
    import threading

    from alerts.runner import AlertRunner
    from store import audit

    engine = app.extensions["leadrelay"].engine
    audit.record_action(engine, "replay", "token", [1, 2], {"from": "dead", "to": "queued"})
    with write(engine) as conn:
        conn.execute(text("UPDATE audit_log SET at=:old WHERE lead_id=1"), {"old": time.time() - 31 * 86400})
    AlertRunner(engine, app.extensions["leadrelay"].settings, threading.Event()).prune()
    assert audit.timeline(engine, 1) == [] and len(audit.timeline(engine, 2)) == 1
