"""Issue 18 finding 3: the login throttle cannot be turned against the operators, nor write without bound."""

from __future__ import annotations

import logging
import threading

from sqlalchemy import text

from admin import auth
from config import ROOT
from tests.admin.helpers import CONFIG, TOKEN


def login(client, token: str, **headers: str) -> int:
    """POST the login form; the status code."""
    return int(client.post("/admin/login", data={"token": token}, headers=headers).status_code)


def rows(app) -> int:
    """Login attempt rows in the database."""
    with app.extensions["leadrelay"].engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM login_attempts")).scalar())


def test_the_right_token_is_never_refused_for_others_failures(make_app, db_url):
    """Behind a proxy with hops 0 everyone is 127.0.0.1: five wrong logins must not lock the operator out."""
    client = make_app(CONFIG, db_url, ADMIN_TOKEN=TOKEN).test_client()
    for _ in range(auth.LOGIN_MAX_FAILURES + 3):
        assert login(client, "guess") in (401, 429)
    assert login(client, "guess") == 429
    assert login(client, TOKEN) == 302


def test_refusals_past_the_limit_write_nothing(make_app, db_url):
    """200 wrong logins from one address leave at most LOGIN_MAX_FAILURES rows."""
    app = make_app(CONFIG, db_url, ADMIN_TOKEN=TOKEN)
    client = app.test_client()
    codes = [login(client, "guess") for _ in range(200)]
    assert codes.count(401) == auth.LOGIN_MAX_FAILURES and codes.count(429) == 200 - auth.LOGIN_MAX_FAILURES
    assert rows(app) == auth.LOGIN_MAX_FAILURES


def test_forwarded_for_from_loopback_without_trusted_hops_warns_once(make_app, sqlite_url, caplog, monkeypatch):
    """A loopback peer sending X-Forwarded-For while TRUSTED_PROXY_HOPS is 0: a proxy nobody told us about."""
    # Once per process: a fresh "process" for this test, whatever other tests sent before.
    monkeypatch.setattr(auth, "_PROXY_WARNING", threading.Event())
    client = make_app(CONFIG, sqlite_url, ADMIN_TOKEN=TOKEN).test_client()
    auth._PROXY_WARNING.clear()  # once per process: an earlier test's loopback X-Forwarded-For may have used it
    with caplog.at_level(logging.WARNING, logger="leadrelay"):
        for n in range(3):
            login(client, "guess", **{"X-Forwarded-For": f"203.0.113.{n}"})
    warned = [r for r in caplog.records if "TRUSTED_PROXY_HOPS" in r.getMessage()]
    assert len(warned) == 1


def test_deploy_docs_set_the_proxy_hop_count():
    """docs/deploy.md's nginx and Caddy setup sets TRUSTED_PROXY_HOPS=1."""
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    [env_block] = [block for block in deploy.split("```") if "DATABASE_URL=postgresql://leadrelay" in block]
    assert "TRUSTED_PROXY_HOPS=1" in env_block
    assert "Caddy" in deploy and "X-Forwarded-For" in deploy
