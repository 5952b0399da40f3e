"""TrustedForm v4 retain + match: strict certificate URLs, one POST per certificate, a verdict.

Only `https://cert.trustedform.com/<40 hex>` is accepted (exactly that host; no userinfo, port,
query or fragment), and the request goes to the configured `api_base` + the certificate id,
never to a URL taken from a payload (a sender must not make leadrelay call an address of its
choosing, nor send our API key there). Retries belong to the caller (the consent gate backs
off and decides when to give up): one call here is one attempt.
"""

from __future__ import annotations

import base64
import enum
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from engage.http import make_session

CERT_HOST = "cert.trustedform.com"
DEFAULT_API_BASE = "https://cert.trustedform.com"
_CERT_ID = re.compile(r"[0-9a-f]{40}")
MATCH_MODES = ("phone", "email", "either")


class Verdict(enum.StrEnum):
    """What one retain attempt means for the lead."""

    VERIFIED = "verified"  # outcome success and the configured field matched
    MISMATCH = "mismatch"  # the certificate is real but not this person's phone (or email)
    UNUSABLE = "unusable"  # unknown, expired or not retainable: no consent evidence
    UNAVAILABLE = "unavailable"  # TrustedForm down, slow, rate-limiting or refusing our key


def cert_id(url: object) -> str | None:
    """The certificate id of a strictly valid TrustedForm certificate URL, else None."""
    if not isinstance(url, str) or url != url.strip() or any(ord(c) < 33 or ord(c) > 126 for c in url):
        return None
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme != "https" or parts.netloc != CERT_HOST or port is not None:
        return None  # netloc equal to the host rules out userinfo, a port and a trailing dot
    if parts.query or parts.fragment or "?" in url or "#" in url:
        return None
    found = parts.path[1:]
    return found if parts.path.startswith("/") and _CERT_ID.fullmatch(found) else None


@dataclass(frozen=True)
class RetainResult:
    """One attempt's answer, kept as consent evidence."""

    verdict: Verdict
    status: int | None  # HTTP status; None when no answer came
    outcome: str | None
    reason: str | None
    phone_match: bool | None
    email_match: bool | None
    previously_retained: bool | None
    expires_at: str | None
    retry_after: float | None
    elapsed_ms: float

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> RetainResult:
        """Rebuild a result from its evidence record."""
        return cls(
            verdict=Verdict(data.get("verdict", Verdict.UNAVAILABLE)),
            status=data.get("status"),
            outcome=data.get("outcome"),
            reason=data.get("reason"),
            phone_match=data.get("phone_match"),
            email_match=data.get("email_match"),
            previously_retained=data.get("previously_retained"),
            expires_at=data.get("expires_at"),
            retry_after=data.get("retry_after"),
            elapsed_ms=float(data.get("elapsed_ms") or 0.0),
        )

    def record(self) -> dict[str, Any]:
        """JSON-ready data for the evidence table."""
        return {
            "verdict": self.verdict.value,
            "retry_after": self.retry_after,
            "status": self.status,
            "outcome": self.outcome,
            "reason": self.reason,
            "phone_match": self.phone_match,
            "email_match": self.email_match,
            "previously_retained": self.previously_retained,
            "expires_at": self.expires_at,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from a numeric Retry-After header, if any."""
    value = response.headers.get("Retry-After", "")
    return float(value) if value.strip().isdigit() else None


def interpret(status: int, body: Any, match: str, elapsed_ms: float, retry_after: float | None = None) -> RetainResult:
    """Turn an HTTP status and parsed JSON body into a verdict (v4 shapes)."""
    data = body if isinstance(body, dict) else {}
    outcome, reason = data.get("outcome"), data.get("reason")
    result = (data.get("match_lead") or {}).get("result") or {}
    retain = (data.get("retain") or {}).get("result") or {}
    phone, email = result.get("phone_match"), result.get("email_match")
    if status == 200 and isinstance(body, dict):
        matched = {"phone": phone is True, "email": email is True, "either": phone is True or email is True}[match]
        if outcome == "error":
            verdict = Verdict.UNAVAILABLE
        elif outcome == "success" and matched:
            verdict = Verdict.VERIFIED
        elif result and not matched:
            verdict = Verdict.MISMATCH
        else:
            verdict = Verdict.UNUSABLE
    elif status in (401, 403, 408, 429) or status >= 500 or not isinstance(body, dict):
        verdict = Verdict.UNAVAILABLE  # our credential, their capacity, or an unreadable answer
    else:
        verdict = Verdict.UNUSABLE  # 404 unknown certificate, 4xx the certificate cannot be retained
    return RetainResult(
        verdict=verdict,
        status=status,
        outcome=outcome if isinstance(outcome, str) else None,
        reason=reason if isinstance(reason, str) else None,
        phone_match=phone if isinstance(phone, bool) else None,
        email_match=email if isinstance(email, bool) else None,
        previously_retained=retain.get("previously_retained"),
        expires_at=retain.get("expires_at"),
        retry_after=retry_after,
        elapsed_ms=elapsed_ms,
    )


class TrustedFormClient:
    """Retain + match one certificate per call against `api_base` (pooled keep-alive session)."""

    def __init__(
        self,
        api_key: str,
        api_base: str = DEFAULT_API_BASE,
        match: str = "phone",
        timeout: float = 10.0,
        session: requests.Session | None = None,
    ) -> None:
        """Keep the key as a ready Basic header (user "X", the key as password, per the v4 docs)."""
        if match not in MATCH_MODES:
            raise ValueError(f"match must be one of {', '.join(MATCH_MODES)}")
        self.api_base = api_base.rstrip("/")
        self.match = match
        self.timeout = timeout
        self._auth = "Basic " + base64.b64encode(f"X:{api_key}".encode()).decode("ascii")
        self._session = session or make_session()

    def retain(self, cert: str, *, phone: str | None, email: str | None, reference: str, vendor: str) -> RetainResult:
        """POST api_base/<cert id> with match_lead and retain; one attempt, never raises on HTTP."""
        if not _CERT_ID.fullmatch(cert):
            raise ValueError("a certificate id is 40 lower-case hex digits (use cert_id() on the URL)")
        body = {
            "match_lead": {"phone": phone or "", "email": email or ""},
            "retain": {"reference": reference, "vendor": vendor},
        }
        headers = {"api-version": "4.0", "Content-Type": "application/json", "Authorization": self._auth}
        started = time.monotonic()
        try:
            response = self._session.post(f"{self.api_base}/{cert}", json=body, headers=headers, timeout=self.timeout)
        except requests.RequestException as exc:
            elapsed = (time.monotonic() - started) * 1000
            kind = "timeout" if isinstance(exc, requests.Timeout) else "connection failed"
            return RetainResult(Verdict.UNAVAILABLE, None, None, kind, None, None, None, None, None, elapsed)
        elapsed = (time.monotonic() - started) * 1000
        try:
            parsed: Any = response.json()
        except ValueError:
            parsed = None
        return interpret(response.status_code, parsed, self.match, elapsed, _retry_after(response))
