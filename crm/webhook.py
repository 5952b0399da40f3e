"""Generic write-back: POST one JSON object per attempt, signed with Standard Webhooks.

The same `webhook-id` on every try of one attempt (the receiver deduplicates by it); each try is
signed with its own `webhook-timestamp`, so any Standard Webhooks library verifies it within its
tolerance however late the retry. Signing uses the `standardwebhooks` library itself.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import requests
from standardwebhooks.webhooks import Webhook

from crm.base import Outcome, done, judge, send, timeout_of
from crm.payload import Payload


def message_id(payload: Payload) -> str:
    """The webhook-id of this attempt's message: fixed for every retry."""
    return f"msg_leadrelay_{payload['attempt']['attempt_id']}"


def body(payload: Payload) -> dict[str, Any]:
    """The JSON object the receiver gets (the issue's field names)."""
    lead, attempt = payload["lead"], payload["attempt"]
    return {
        "externId": lead["externId"],
        "phone": lead["phone"],
        "source": lead["source"],
        "campaign": lead["campaign"],
        "uii": attempt["uii"],
        "disposition": attempt["disposition"],
        "system_disposition": attempt["system_disposition"],
        "call_start": attempt["call_start"],
        "duration": attempt["duration"],
        "agent": attempt["agent"],
        "final": attempt["final"],
        "attempt_id": attempt["attempt_id"],
    }


def signed_request(payload: Payload, secret: str, now: float) -> tuple[bytes, dict[str, str]]:
    """The body bytes and the three Standard Webhooks headers for a try at `now`."""
    data = json.dumps(body(payload), separators=(",", ":"))
    msg_id = message_id(payload)
    timestamp = datetime.fromtimestamp(int(now), tz=UTC)
    signature = Webhook(secret).sign(msg_id, timestamp, data)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now)),
        "webhook-signature": signature,
    }
    return data.encode(), headers


def deliver(payload: Payload, settings: dict[str, Any], session: requests.Session, now: float) -> Outcome:
    """One try: 2xx done; 429/5xx/timeouts retried (the same webhook-id); another 4xx failed for good."""
    data, headers = signed_request(payload, settings["secret"], now)
    response = send(session, timeout_of(settings), "POST", settings["webhook"], "webhook", data=data, headers=headers)
    if isinstance(response, Outcome):
        # A lost answer is resent as is: the receiver deduplicates by webhook-id.
        return response if response.state != "unknown" else Outcome("retry", response.detail, cause="down")
    verdict = judge(response, "webhook")
    if verdict is not None:
        if response.status_code == 410:
            return Outcome("failed", "webhook: 410 Gone (the receiver asked to stop)")
        return verdict
    return done(f"webhook: {response.status_code}", status=response.status_code, webhook_id=message_id(payload))
