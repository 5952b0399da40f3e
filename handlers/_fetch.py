"""Fetching id-only records from a sender's API: one GET, its failures sorted into retryable or not."""

from __future__ import annotations

from typing import Any

import requests

from handlers.base import FetchError

# (connect, read) seconds; fetches run in their own pool, so a slow API delays one lead only.
TIMEOUT = (3.05, 10.0)


def get_json(
    session: requests.Session, url: str, what: str, headers: dict[str, str], params: dict[str, str] | None = None
) -> Any:
    """GET `url` and return its JSON; raise FetchError (retryable for 429, 5xx and network errors)."""
    try:
        response = session.get(url, params=params, headers={"Accept": "application/json", **headers}, timeout=TIMEOUT)
    except requests.RequestException as exc:
        # The exception text may echo the URL; its type says enough and leaks nothing.
        raise FetchError(f"{what}: API unreachable ({type(exc).__name__})", retryable=True) from exc
    check_status(response, what)
    try:
        return response.json()
    except ValueError as exc:
        raise FetchError(f"{what}: the API answered invalid JSON", retryable=True) from exc


def check_status(response: requests.Response, what: str) -> None:
    """Raise FetchError for anything but 2xx: 429/5xx retryable, other 4xx (404, 401, …) not."""
    status = response.status_code
    if 200 <= status < 300:
        return
    if status == 429 or status >= 500:
        retry_after = response.headers.get("Retry-After")
        hint = f" (Retry-After: {retry_after})" if retry_after else ""
        raise FetchError(f"{what}: HTTP {status}{hint}", retryable=True)
    # 404: the record is gone or merged away; 401/403: the token is wrong or lacks a scope —
    # retrying cannot help until someone fixes the config (then replay the lead).
    raise FetchError(f"{what}: HTTP {status}", retryable=False)
