"""Issue 18 finding 8: with the database cut, the console and /admin/api answer 503, never a traceback."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import pytest

from harness.tcp_proxy import TcpProxy
from tests.admin.helpers import CONFIG, TOKEN
from tests.lanes import process_fixture

BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
@process_fixture
def cut_app(make_app, pg_url):
    """The app on PostgreSQL through a TCP proxy (a real connection, really cut), and that proxy."""
    parts = urlsplit(pg_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    app = make_app(CONFIG, proxy.url_for(pg_url), ADMIN_TOKEN=TOKEN)
    yield app, proxy
    proxy.close()


def assert_no_traceback(response, caplog) -> None:
    """Neither the answer nor the log carries a traceback."""
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and "sqlalchemy" not in body.lower() and "psycopg" not in body.lower()
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]


@pytest.mark.parametrize("path", ["/admin/", "/admin/leads", "/admin/holds", "/admin/sources", "/admin/leads/1"])
def test_console_pages_answer_503_when_the_database_is_cut(cut_app, caplog, path):
    """Bearer-authenticated console pages: 503 with Retry-After and a sentence, no traceback."""
    app, proxy = cut_app
    client = app.test_client()
    assert client.get("/admin/leads", headers=BEARER).status_code == 200
    proxy.cut()
    with caplog.at_level(logging.INFO):
        response = client.get(path, headers=BEARER)
    assert response.status_code == 503 and response.headers.get("Retry-After")
    assert "database" in response.get_data(as_text=True).lower()
    assert_no_traceback(response, caplog)
    proxy.restore()
    assert client.get("/admin/leads", headers=BEARER).status_code == 200


def test_a_session_cookie_gets_503_not_a_login_loop(cut_app, caplog):
    """The session is checked in the database: while it is cut the answer is 503, not a redirect or a 500."""
    app, proxy = cut_app
    client = app.test_client()
    assert client.post("/admin/login", data={"token": TOKEN}).status_code == 302
    proxy.cut()
    with caplog.at_level(logging.INFO):
        response = client.get("/admin/leads")
        login = client.post("/admin/login", data={"token": "guess"})
    assert response.status_code == 503 and login.status_code == 503
    assert_no_traceback(response, caplog)


@pytest.mark.parametrize("path", ["/admin/api/leads", "/admin/api/leads/1", "/admin/api/events/1"])
def test_admin_api_answers_503_json_when_the_database_is_cut(cut_app, caplog, path):
    """JSON 503 in the project's error shape, with Retry-After."""
    app, proxy = cut_app
    client = app.test_client()
    proxy.cut()
    with caplog.at_level(logging.INFO):
        response = client.get(path, headers=BEARER)
    assert response.status_code == 503 and response.headers.get("Retry-After")
    assert response.json["error"] == "database_unavailable"
    assert_no_traceback(response, caplog)
