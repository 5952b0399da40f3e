"""What every write-back shares: the job's payload, the outcome of one try, reading an HTTP answer."""

from __future__ import annotations

import email.utils
import time
from dataclasses import dataclass, field
from typing import Any, Literal

import requests

# The job kinds the outbox runs (names fixed by the team contract).
KIND_HUBSPOT = "writeback.hubspot"
KIND_SALESFORCE = "writeback.salesforce"
KIND_WEBHOOK = "writeback.webhook"
KINDS = (KIND_HUBSPOT, KIND_SALESFORCE, KIND_WEBHOOK)

DEFAULT_TIMEOUT = 15.0  # seconds for one CRM call: a slow CRM is retried, never waited on for long
USER_AGENT = "leadrelay-writeback/1"


@dataclass(frozen=True)
class Outcome:
    """The fate of one try: sent (with what the CRM answered), retry after a delay, unknown, or failed for good."""

    state: Literal["sent", "retry", "unknown", "failed"]
    detail: str = ""
    after: float | None = None  # retry: seconds to wait (a 429's Retry-After), None = the runner's backoff
    # retry: "throttled" (a 429 or a spent API allowance: the CRM's windows pause), "down" (unreachable
    # or the CRM's own 5xx: its jobs wait behind one probe), None (this job's own trouble: its backoff).
    cause: Literal["throttled", "down"] | None = None
    result: dict[str, Any] = field(default_factory=dict)  # done: the CRM's id for what was written


def done(detail: str, **result: Any) -> Outcome:
    """The CRM has it."""
    return Outcome("sent", detail, result=result)


def retry(detail: str, after: float | None = None, cause: Literal["throttled", "down"] | None = None) -> Outcome:
    """Try again later (outage, 5xx, 429)."""
    return Outcome("retry", detail, after=after, cause=cause)


def unknown(detail: str) -> Outcome:
    """Sent, fate unknown (timeout after sending, dropped connection): look up before any resend."""
    return Outcome("unknown", detail)


def failed(detail: str) -> Outcome:
    """The CRM refused it for good (a 4xx that no retry changes): kept for a person, not retried."""
    return Outcome("failed", detail)


def retry_after(response: requests.Response, now: float | None = None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


# Statuses a later try can change: timeouts, conflicts, rate limits and the server's own trouble.
RETRYABLE = frozenset({408, 409, 425, 429}) | frozenset(range(500, 600))


def judge(response: requests.Response, what: str) -> Outcome | None:
    """The outcome of a non-2xx answer (None for a 2xx: the caller reads the body)."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    text = response.text[:300]
    if status == 429:
        return retry(f"{what}: 429 rate limited", retry_after(response), cause="throttled")
    if status >= 500 or status == 408:
        return retry(f"{what}: {status} {text}", retry_after(response), cause="down")
    if status in RETRYABLE:
        return retry(f"{what}: {status} {text}", retry_after(response))
    return failed(f"{what}: {status} {text}")


def timeout_of(settings: dict[str, Any]) -> float:
    """Seconds one CRM call may take (`timeout:` in the write-back settings)."""
    return float(settings.get("timeout") or DEFAULT_TIMEOUT)


def send(
    session: requests.Session, timeout: float, method: str, url: str, what: str, **kwargs: Any
) -> requests.Response | Outcome:
    """One HTTP call: the response, or the outcome of a transport failure (unknown once the request may have left)."""
    headers = {"User-Agent": USER_AGENT, **kwargs.pop("headers", {})}
    try:
        return session.request(method, url, headers=headers, timeout=timeout, **kwargs)
    except requests.ConnectTimeout as exc:
        return retry(f"{what}: connect timeout ({type(exc).__name__})", cause="down")
    except requests.ConnectionError as exc:
        # Refused before anything was sent is a plain retry; a reset after sending may have landed.
        if "refused" in str(exc).lower() or "Failed to establish" in str(exc):
            return retry(f"{what}: connection refused", cause="down")
        return unknown(f"{what}: connection lost ({type(exc).__name__})")
    except requests.Timeout as exc:
        return unknown(f"{what}: no answer in time ({type(exc).__name__})")
    except requests.RequestException as exc:
        return retry(f"{what}: {type(exc).__name__}", cause="down")
