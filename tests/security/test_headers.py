"""Issue 18 findings 6 (login `next=`), 9 (headers, OpenAPI behind auth, server-only notices, one charset)
and 12 (the example's commented hmac line is valid YAML once uncommented)."""

from __future__ import annotations

import re

import pytest
import yaml

from config import ROOT, load_file
from tests.admin.helpers import CONFIG, TOKEN, post_lead

BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(make_app, sqlite_url):
    """The app with ADMIN_TOKEN on SQLite."""
    return make_app(CONFIG, sqlite_url, ADMIN_TOKEN=TOKEN)


def login(client) -> str:
    """Log in; the CSRF token of the session."""
    assert client.post("/admin/login", data={"token": TOKEN}).status_code == 302
    html = client.get("/admin/holds").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert found
    return found.group(1)


@pytest.mark.parametrize(
    "target", ["/admin/leads\r\nSet-Cookie: x=1", "/admin/leads\nx", "/admin/\x00leads", "/admin/\x1b[31m", "/admin\t"]
)
def test_login_next_with_control_characters_goes_to_the_index(app, target):
    """`next=` with CR/LF or any control character: a redirect to the console's index, not a 500."""
    response = app.test_client().post("/admin/login", data={"token": TOKEN, "next": target})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/")


def test_console_headers(app):
    """nosniff, Referrer-Policy, no-store and a CSP that forbids framing, foreign forms and <base>."""
    client = app.test_client()
    login(client)
    for path in ("/admin/login", "/admin/leads"):
        headers = client.get(path).headers
        assert headers["X-Content-Type-Options"] == "nosniff"
        assert headers["Referrer-Policy"] == "same-origin"
        assert headers["Cache-Control"] == "no-store"
        csp = headers["Content-Security-Policy"]
        for directive in ("frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"):
            assert directive in csp, (path, csp)


def test_admin_api_is_never_cached_and_not_sniffed(app):
    """/admin/api answers carry lead data: no-store and nosniff."""
    headers = app.test_client().get("/admin/api/leads", headers=BEARER).headers
    assert headers["Cache-Control"] == "no-store" and headers["X-Content-Type-Options"] == "nosniff"


def test_every_answer_is_nosniff(app):
    """Webhook answers and health endpoints too."""
    client = app.test_client()
    for path in ("/healthz", "/readyz", "/webhooks/nosuch"):
        assert client.get(path).headers.get("X-Content-Type-Options") == "nosniff", path


def test_hsts_only_over_https(app):
    """Strict-Transport-Security when the browser came over HTTPS (a proxy's X-Forwarded-Proto), never over HTTP."""
    client = app.test_client()
    assert "Strict-Transport-Security" not in client.get("/admin/login").headers
    secure = client.get("/admin/login", headers={"X-Forwarded-Proto": "https"}).headers
    assert secure["Strict-Transport-Security"].startswith("max-age=")


def test_openapi_document_needs_admin_auth(app):
    """The API's map is not public: 401 without the token, the document with it."""
    client = app.test_client()
    assert client.get("/admin/api/openapi.json").status_code == 401
    answer = client.get("/admin/api/openapi.json", headers=BEARER)
    assert answer.status_code == 200 and answer.json["info"]["title"]


@pytest.mark.parametrize("path", ["/admin/holds", "/admin/leads/1"])
def test_notices_come_from_the_server_only(app, path):
    """A crafted ?notice= is not shown as the server's word."""
    client = app.test_client()
    post_lead(client, 1)
    login(client)
    assert client.get(path).status_code == 200
    html = client.get(f"{path}?notice=Your+session+expired.+Call+555-0100").get_data(as_text=True)
    assert "555-0100" not in html


def test_a_real_notice_still_shows(app):
    """The release form's own notice reaches the page it redirects to."""
    client = app.test_client()
    csrf = login(client)
    answer = client.post("/admin/holds/release", data={"csrf_token": csrf, "scope": "account"}, follow_redirects=True)
    assert "Released 0 lead" in answer.get_data(as_text=True)


def test_metrics_has_one_charset(app):
    """`Content-Type: text/plain; version=0.0.4; charset=utf-8`, the charset once."""
    content_type = app.test_client().get("/metrics").headers["Content-Type"]
    assert content_type.count("charset") == 1, content_type


def test_the_examples_commented_hmac_line_is_valid_yaml_once_uncommented(tmp_path):
    """Uncommenting `# hmac: {…}` in leadrelay.example.yml gives a file that loads (finding 12)."""
    text = (ROOT / "leadrelay.example.yml").read_text()
    line = next(ln for ln in text.splitlines() if ln.lstrip().startswith("# hmac:"))
    uncommented = text.replace(line, line.replace("# hmac:", "hmac:", 1))
    yaml.safe_load(uncommented)
    path = tmp_path / "leadrelay.yml"
    path.write_text(uncommented.replace("    enabled: false\n    token: ${WEBSITE_TOKEN}", "    token: t0ken-value"))
    source = load_file(path, {"WEBSITE_HMAC_SECRET": "s3cret-value"}).sources["website"]
    assert source.settings.options["hmac"]["header"] == "X-Signature"
