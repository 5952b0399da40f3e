"""Shared HTTP plumbing: one pooled keep-alive session and transport errors mapped to Unavailable."""

from __future__ import annotations

import os
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from engage.errors import Unavailable

Timeout = float | tuple[float, float]

# Environment settings requests reads per request when trust_env is on.
_ENV_SETTINGS = ("http_proxy", "https_proxy", "all_proxy", "requests_ca_bundle", "curl_ca_bundle")


def _env_matters() -> bool:
    """True when a proxy or CA-bundle variable is set, so requests must keep reading the environment."""
    return any(os.environ.get(name) or os.environ.get(name.upper()) for name in _ENV_SETTINGS)


def make_session(pool_maxsize: int = 16) -> requests.Session:
    """Build a requests.Session whose adapters keep connections alive and never retry on their own."""
    session = requests.Session()
    # Retries belong to the dispatcher (it knows the rate budget); urllib3 must not resend a POST.
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_maxsize, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # Scanning os.environ for proxies costs ~0.5 ms per request; skip it when nothing there applies.
    session.trust_env = _env_matters()
    return session


def never_sent(exc: requests.RequestException) -> bool:
    """True when the request cannot have reached the server (no connection was ever made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.ReadTimeout):
        text = repr(exc)
        return any(
            marker in text
            for marker in (
                "NewConnectionError",
                "Failed to establish",
                "Connection refused",
                "Name or service not known",
                "NameResolutionError",
            )
        )
    return False


def send(session: requests.Session, method: str, url: str, *, timeout: Timeout, **kw: Any) -> requests.Response:
    """Send one request; connection failures and timeouts become Unavailable (no status).

    A read timeout or a connection dropped mid-call leaves the call's fate unknown (it may have
    been carried out); a refused or timed-out connect did not send anything.
    """
    try:
        return session.request(method, url, timeout=timeout, allow_redirects=False, **kw)
    except requests.Timeout as exc:
        raise Unavailable(f"timeout: {type(exc).__name__}", body=str(exc), fate_unknown=not never_sent(exc)) from exc
    except requests.ConnectionError as exc:
        raise Unavailable(
            f"connection failed: {type(exc).__name__}", body=str(exc), fate_unknown=not never_sent(exc)
        ) from exc
    except requests.RequestException as exc:
        raise Unavailable(
            f"request failed: {type(exc).__name__}", body=str(exc), fate_unknown=not never_sent(exc)
        ) from exc


def json_or_none(resp: requests.Response) -> Any:
    """Decode a JSON body, or None when the body is empty or not JSON."""
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        return None
