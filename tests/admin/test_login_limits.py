"""The console's login limit: X-Forwarded-For trusted only as configured, counted and recorded in one
serialized transaction under parallel guesses, and caps that refuse wrong tokens but never the right one."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from admin import auth
from store.db import write
from tests.admin.helpers import CONFIG, TOKEN


def login(client, token: str, **headers: str) -> int:
    """POST the login form; the status code."""
    return int(client.post("/admin/login", data={"token": token}, headers=headers).status_code)


def failures(app) -> int:
    """Failed attempts recorded in the database."""
    with app.extensions["leadrelay"].engine.connect() as conn:
        return int(conn.execute(text("SELECT COUNT(*) FROM login_attempts WHERE ok = :f"), {"f": False}).scalar())


def test_forwarded_for_is_ignored_without_a_trusted_proxy(make_app, db_url):
    """No proxy configured: a new X-Forwarded-For per guess is still the same client (the socket's peer)."""
    client = make_app(CONFIG, db_url, ADMIN_TOKEN=TOKEN).test_client()
    for n in range(5):
        assert login(client, "guess", **{"X-Forwarded-For": f"203.0.113.{n}"}) == 401
    assert login(client, "guess", **{"X-Forwarded-For": "203.0.113.99"}) == 429
    assert login(client, TOKEN, **{"X-Forwarded-For": "203.0.113.99"}) == 302  # never the right token


def test_trusted_hops_pick_the_client_the_proxy_saw(make_app, sqlite_url):
    """With two trusted proxies the client is the second hop from the end; what it wrote before is ignored."""
    client = make_app(CONFIG, sqlite_url, ADMIN_TOKEN=TOKEN, TRUSTED_PROXY_HOPS="2").test_client()
    for n in range(5):
        forged = f"198.51.100.{n}, 203.0.113.5, 10.0.0.1"  # client-written, client, first proxy
        assert login(client, "guess", **{"X-Forwarded-For": forged}) == 401
    assert login(client, "guess", **{"X-Forwarded-For": "198.51.100.77, 203.0.113.5, 10.0.0.1"}) == 429
    assert login(client, "guess", **{"X-Forwarded-For": "203.0.113.6, 10.0.0.1"}) == 401  # another client


def test_on_heroku_the_router_hop_is_trusted(make_app, sqlite_url):
    """DYNO set (Heroku) and no TRUSTED_PROXY_HOPS: the last hop (the router's) names the client."""
    client = make_app(CONFIG, sqlite_url, ADMIN_TOKEN=TOKEN, DYNO="web.1", ALLOW_SQLITE="1").test_client()
    for _ in range(5):
        assert login(client, "guess", **{"X-Forwarded-For": "203.0.113.5"}) == 401
    assert login(client, "guess", **{"X-Forwarded-For": "203.0.113.5"}) == 429
    assert login(client, "guess", **{"X-Forwarded-For": "203.0.113.5, 203.0.113.6"}) == 401


def test_the_global_cap_refuses_guesses_not_the_right_token(make_app, db_url):
    """Past LOGIN_MAX_FAILURES_ALL failures from many addresses, wrong tokens get 429, the right one logs in."""
    app = make_app(CONFIG, db_url, ADMIN_TOKEN=TOKEN)
    now = time.time()
    with write(app.extensions["leadrelay"].engine) as conn:
        conn.execute(
            text("INSERT INTO login_attempts (remote, at, ok) VALUES (:r, :at, :ok)"),
            [{"r": f"192.0.2.{n % 250}-{n}", "at": now, "ok": False} for n in range(auth.LOGIN_MAX_FAILURES_ALL)],
        )
    client = app.test_client()
    assert login(client, "guess") == 429
    assert login(client, TOKEN) == 302


def test_parallel_guesses_cannot_pass_the_limit_together(make_app, db_url):
    """40 wrong tokens at once from one address: at most five judged (401) and recorded, the rest 429 unrecorded."""
    app = make_app(CONFIG, db_url, ADMIN_TOKEN=TOKEN)
    start = threading.Barrier(40)
    codes: list[int] = []

    def guess() -> None:
        """One client's wrong login, released with the others."""
        client = app.test_client()
        start.wait(timeout=30)
        codes.append(login(client, "guess"))

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(codes) == 40 and set(codes) <= {401, 429}
    assert codes.count(401) <= auth.LOGIN_MAX_FAILURES, codes
    assert failures(app) == codes.count(401)
