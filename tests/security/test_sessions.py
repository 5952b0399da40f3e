"""Issue 18 finding 2: console sessions are server-side and revocable; cross-origin POSTs are refused."""

from __future__ import annotations

import re

import pytest

from admin import auth
from tests.admin.helpers import CONFIG, TOKEN


@pytest.fixture
def app(make_app, db_url):
    """The app with ADMIN_TOKEN."""
    return make_app(CONFIG, db_url, ADMIN_TOKEN=TOKEN)


def login(client) -> tuple[str, str]:
    """Log in through the form: (the session cookie's value, the session's CSRF token)."""
    response = client.post("/admin/login", data={"token": TOKEN})
    assert response.status_code == 302
    cookie = re.search(rf"{auth.COOKIE}=([^;]+)", response.headers["Set-Cookie"])
    html = client.get("/admin/holds").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert cookie and csrf
    return cookie.group(1), csrf.group(1)


def kept(app, cookie: str):
    """A second browser holding a copy of the cookie (as an attacker who kept it would)."""
    client = app.test_client()
    client.set_cookie(auth.COOKIE, cookie, path="/admin")
    return client


def test_logout_ends_the_session_at_once(app):
    """A cookie kept from before logout reads nothing and changes nothing, even with its CSRF token."""
    browser = app.test_client()
    cookie, csrf = login(browser)
    thief = kept(app, cookie)
    assert thief.get("/admin/leads").status_code == 200  # the copy works while the session lives
    assert browser.post("/admin/logout", data={"csrf_token": csrf}).status_code == 302
    leads = thief.get("/admin/leads")
    assert leads.status_code == 302 and "/admin/login" in leads.headers["Location"]
    assert thief.get("/admin/api/leads").status_code == 401
    release = thief.post("/admin/holds/release", data={"csrf_token": csrf, "scope": "account"})
    assert release.status_code == 302 and "/admin/login" in release.headers["Location"]


def test_admin_sessions_revoke_ends_every_session(app):
    """`./leadrelay admin sessions revoke` logs every browser out; a new login works afterwards."""
    first, _ = login(app.test_client())
    second, _ = login(app.test_client())
    result = app.test_cli_runner().invoke(args=["admin", "sessions", "revoke"])
    assert result.exit_code == 0, result.output
    assert "Revoked 2 sessions" in result.output
    for cookie in (first, second):
        assert kept(app, cookie).get("/admin/leads").status_code == 302
    fresh, _ = login(app.test_client())
    assert kept(app, fresh).get("/admin/leads").status_code == 200


@pytest.mark.parametrize(
    "headers, status",
    [
        ({"Origin": "http://evil.example"}, 403),
        ({"Referer": "http://evil.example/page"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "http://localhost"}, 302),  # the request's own host (no PUBLIC_URL set)
        ({"Referer": "http://localhost/admin/holds"}, 302),
        ({}, 302),  # neither header: the CSRF token decides
    ],
    ids=["evil-origin", "evil-referer", "null-origin", "own-origin", "own-referer", "neither"],
)
def test_state_changing_posts_check_origin(app, headers, status):
    """A valid session and CSRF token from another origin is refused; the console's own origin passes."""
    browser = app.test_client()
    _, csrf = login(browser)
    response = browser.post("/admin/holds/release", data={"csrf_token": csrf, "scope": "account"}, headers=headers)
    assert response.status_code == status, response.get_data(as_text=True)[:300]


def test_with_public_url_the_origin_must_be_it(make_app, sqlite_url):
    """PUBLIC_URL set: only its origin passes (a proxy may hand the app another Host)."""
    app = make_app(CONFIG, sqlite_url, ADMIN_TOKEN=TOKEN, PUBLIC_URL="https://leads.example.com")
    browser = app.test_client()
    _, csrf = login(browser)
    form = {"csrf_token": csrf, "scope": "account"}
    assert browser.post("/admin/holds/release", data=form, headers={"Origin": "http://localhost"}).status_code == 403
    ok = browser.post("/admin/holds/release", data=form, headers={"Origin": "https://leads.example.com"})
    assert ok.status_code == 302


def test_neither_header_and_no_csrf_token_is_refused(app):
    """Without Origin and Referer a POST still needs the session's CSRF token."""
    browser = app.test_client()
    login(browser)
    assert browser.post("/admin/holds/release", data={"scope": "account"}).status_code == 403


def test_console_pages_send_referrer_policy_same_origin(app):
    """Console URLs (lead ids, searches) never leave in a Referer to another site."""
    browser = app.test_client()
    login(browser)
    for path in ("/admin/login", "/admin/leads", "/admin/holds"):
        assert browser.get(path).headers.get("Referrer-Policy") == "same-origin", path
