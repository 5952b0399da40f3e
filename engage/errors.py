"""Engage errors, grouped by the scope the dispatcher acts on (account, campaign, batch, call)."""

from __future__ import annotations

import email.utils
import time
from typing import Any

BODY_LIMIT = 500  # keep enough of an answer to diagnose, never a whole page in a log line


def truncate(text: str | bytes | None, limit: int = BODY_LIMIT) -> str:
    """Return `text` as str, cut to `limit` characters with a marker when longer."""
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return text if len(text) <= limit else text[:limit] + "…"


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Parse a Retry-After header (delta seconds or an HTTP date) into seconds from now."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class EngageError(Exception):
    """Base of every error the Engage client raises."""

    def __init__(self, message: str, *, status: int | None = None, body: str | bytes | None = None) -> None:
        """Keep a short message, the HTTP status (None when no answer) and a truncated body."""
        super().__init__(message)
        self.message = message
        self.status = status
        self.body = truncate(body)

    def __str__(self) -> str:
        """Show the status next to the message, as operators read it in logs."""
        return f"{self.message} (HTTP {self.status})" if self.status else self.message


class AuthError(EngageError):
    """Account scope: credentials refused, or a 401 that survived one token refresh."""


class ExchangeThrottled(AuthError):
    """The token exchange is over its 5/min budget (refused locally or with a 429)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        """Also carry how long to wait before the next exchange may succeed."""
        super().__init__(message, **kw)
        self.retry_after = retry_after


class CampaignError(EngageError):
    """Campaign scope: 403/404 on a campaign path, or a campaign name that does not resolve."""

    def __init__(self, message: str, *, campaign_id: int | None = None, campaign: object = None, **kw: Any) -> None:
        """Also carry the campaign id (when known) and the campaign as configured."""
        super().__init__(message, **kw)
        self.campaign_id = campaign_id
        self.campaign = campaign if campaign is not None else campaign_id


class BatchRejected(EngageError):
    """Batch scope: a 400 for the whole call (the dispatcher splits and retries the halves)."""


class Throttled(EngageError):
    """A 429 on an API call; `retry_after` is None when the server gave no hint."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        """Also carry the parsed Retry-After, in seconds."""
        super().__init__(message, **kw)
        self.retry_after = retry_after


class Unavailable(EngageError):
    """Transient: 5xx, connection refused/reset, or a timeout; safe to retry later.

    `fate_unknown` is True when the request may have reached Engage (a read timeout, a connection
    dropped after sending, an unreadable 200): the leads may be loaded, so they are looked up
    before any resend.
    """

    def __init__(self, message: str, *, fate_unknown: bool = False, **kw: Any) -> None:
        """Also say whether the call may have been carried out."""
        super().__init__(message, **kw)
        self.fate_unknown = fate_unknown


class LookupUnsupported(EngageError):
    """campaignLeads/leadSearch is refused for this login (403/404): leads cannot be looked up."""
