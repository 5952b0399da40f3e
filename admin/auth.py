"""Who is asking: the bearer ADMIN_TOKEN (scripts) or a console session (people).

A session is a row in the database (store/sessions.py) named by a random id that a signed cookie
carries: logout and `admin sessions revoke` end it at once on every process. The cookie's key is
derived from ADMIN_TOKEN (or SECRET_KEY when set), so changing the token also logs every session out.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import threading
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flask import current_app, g, request
from itsdangerous import BadSignature, URLSafeTimedSerializer

import logs
from store import sessions

if TYPE_CHECKING:
    from runtime import Runtime

COOKIE = "leadrelay_admin"
SESSION_SECONDS = 12 * 3600
LOGIN_WINDOW = 600.0  # failed logins counted over 10 minutes…
LOGIN_MAX_FAILURES = 5  # …from one address before logins from it are refused
LOGIN_MAX_FAILURES_ALL = 100  # …from all addresses together before wrong tokens are refused (a spread-out guess)

logger = logging.getLogger("leadrelay.admin")
# One warning per process for an X-Forwarded-For from a loopback peer while no proxy is trusted.
_PROXY_WARNING = threading.Event()


def client_address() -> str:
    """The caller's address: the socket's peer, or the hop TRUSTED_PROXY_HOPS proxies vouch for.

    Each proxy appends the address it saw to X-Forwarded-For, so with N trusted proxies the client
    is the N-th hop from the end; anything left of it was written by the client and can be forged
    (a rotating header would dodge the per-address login limit). With no trusted proxy (0, the
    default off Heroku) the header is ignored. Heroku's router appends one hop (the default there).
    """
    runtime: Runtime = current_app.extensions["leadrelay"]
    trusted = runtime.settings.trusted_proxy_hops
    if not trusted and "X-Forwarded-For" in request.headers:
        _warn_untrusted_proxy()
    forwarded = request.headers.get("X-Forwarded-For", "") if trusted else ""
    hops = [h.strip() for h in forwarded.split(",") if h.strip()]
    return (hops[-trusted] if len(hops) >= trusted > 0 else request.remote_addr or "unknown")[:64]


def _warn_untrusted_proxy() -> None:
    """A loopback peer forwarding for others is a reverse proxy nobody declared: say so once.

    Every client then counts as that proxy's address, so the per-address login limit lumps them together.
    """
    try:
        loopback = ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return
    if loopback and not _PROXY_WARNING.is_set():
        _PROXY_WARNING.set()
        logs.log(
            logger,
            logging.WARNING,
            "X-Forwarded-For from a loopback peer while TRUSTED_PROXY_HOPS is 0: a reverse proxy is in front; "
            "set TRUSTED_PROXY_HOPS=1 (docs/deploy.md) so the console's login limit counts each client, not the proxy",
        )


def admin_token() -> str | None:
    """The configured ADMIN_TOKEN (admin is disabled without it)."""
    runtime: Runtime = current_app.extensions["leadrelay"]
    return runtime.settings.admin_token


def _key() -> bytes:
    """The signing key: the same on every process, derived from configuration."""
    base = os.environ.get("SECRET_KEY") or admin_token() or ""
    return hmac.new(base.encode(), b"leadrelay console session v1", hashlib.sha256).digest()


def _serializer() -> URLSafeTimedSerializer:
    """Signs and checks the session cookie."""
    return URLSafeTimedSerializer(_key(), salt="leadrelay-admin")


def _runtime() -> Runtime:
    """This process's Runtime."""
    runtime: Runtime = current_app.extensions["leadrelay"]
    return runtime


def new_session() -> str:
    """Start a session (a database row) and return the signed cookie value that names it."""
    sid = secrets.token_urlsafe(32)
    sessions.create(_runtime().engine, sid, client_address(), time.time(), SESSION_SECONDS)
    return _serializer().dumps({"sid": sid})


def _cookie_sid() -> str | None:
    """The session id a validly signed, unexpired cookie names (not yet checked against the database)."""
    raw = request.cookies.get(COOKIE)
    if not raw or not admin_token():
        return None
    try:
        data = _serializer().loads(raw, max_age=SESSION_SECONDS)
    except BadSignature:
        return None
    sid = data.get("sid") if isinstance(data, dict) else None
    return sid if isinstance(sid, str) and sid else None


def session_id() -> str | None:
    """The session id of a live session: signed cookie, and a row neither revoked nor expired."""
    if "admin_sid" not in g:
        sid = _cookie_sid()
        g.admin_sid = sid if sid and sessions.active(_runtime().engine, sid, time.time()) else None
    found: str | None = g.admin_sid
    return found


def end_session() -> None:
    """Logout: the session's row is revoked, so a kept copy of the cookie opens nothing."""
    sid = _cookie_sid()
    if sid:
        sessions.revoke(_runtime().engine, sid, time.time())
    g.admin_sid = None
    g.pop("admin_actor", None)


def origin_ok() -> bool:
    """A state-changing POST's Origin (else Referer) is the console's own origin.

    The console's origin is PUBLIC_URL's scheme and host when set, else the request's own host (any
    scheme: a TLS-terminating proxy hands the app plain HTTP). With neither header the CSRF token
    decides alone (some privacy tools strip both).
    """
    given = request.headers.get("Origin")
    if given is None:
        referer = request.headers.get("Referer")
        if referer is None:
            return True
        given = referer
    parts = urlsplit(given.strip())
    if not parts.scheme or not parts.netloc:
        return False  # "null" (a sandboxed frame, a data: page) or garbage
    public = _runtime().settings.public_url
    if public:
        own = urlsplit(public)
        return (parts.scheme.lower(), parts.netloc.lower()) == (own.scheme.lower(), own.netloc.lower())
    return parts.netloc.lower() == request.host.lower()


def bearer_ok() -> bool:
    """Whether the request carries `Authorization: Bearer $ADMIN_TOKEN`."""
    token = admin_token() or ""
    given = request.headers.get("Authorization", "")
    return bool(token) and given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode())


def actor() -> str | None:
    """`token` or `session:<first 8 of the id>` (for the audit log), None when not authenticated."""
    if "admin_actor" not in g:
        if bearer_ok():
            g.admin_actor = "token"
        else:
            sid = session_id()
            g.admin_actor = f"session:{sid[:8]}" if sid else None
    who: str | None = g.admin_actor
    return who


def signed_in() -> str:
    """The actor of a request the before_request guards already let through (never anonymous there)."""
    who = actor()
    if who is None:
        raise RuntimeError("signed_in() called on an unauthenticated request: the blueprint's guard is missing")
    return who


def csrf_token() -> str:
    """The CSRF token of this session (HMAC of its id): forms carry it, POSTs must match it."""
    sid = session_id() or ""
    return hmac.new(_key(), b"csrf:" + sid.encode(), hashlib.sha256).hexdigest()


def notice_sig(text: str) -> str:
    """The signature (`sig=`) of a notice a redirect carries to the next page: only the server can write one."""
    return hmac.new(_key(), b"notice:" + text.encode(), hashlib.sha256).hexdigest()


def notice_shown(args: Mapping[str, str]) -> str | None:
    """The notice of a redirect this server made; a crafted `?notice=` is not shown as the server's word."""
    text, mark = args.get("notice"), args.get("sig", "")
    if not text:
        return None
    return text if hmac.compare_digest(mark.encode(), notice_sig(text).encode()) else None


def csrf_ok() -> bool:
    """Bearer requests carry no ambient credentials; a cookie session must echo its CSRF token."""
    if bearer_ok():
        return True
    given = request.form.get("csrf_token", "")
    return bool(session_id()) and hmac.compare_digest(given.encode(), csrf_token().encode())


def check_login(token: str) -> bool:
    """Constant-time check of a login form's token."""
    expected = admin_token() or ""
    return bool(expected) and hmac.compare_digest(token.encode(), expected.encode())


def over_https() -> bool:
    """Whether the browser reached us over HTTPS.

    Directly, through a proxy that says so (Heroku's router sets X-Forwarded-Proto), or as PUBLIC_URL declares.
    """
    public = current_app.extensions["leadrelay"].settings.public_url or ""
    return (
        request.is_secure
        or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
        or public.startswith("https://")
    )
