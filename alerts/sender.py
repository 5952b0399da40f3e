"""Deliver alert messages: a JSON POST that Slack incoming webhooks and generic receivers accept.

Each is claimed from the outbox by one process at a time, retried with backoff, failures logged (never the URL).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import requests
from sqlalchemy import text
from sqlalchemy.engine import Engine

from logs import log
from store.db import now_sql, write

logger = logging.getLogger("leadrelay.alerts")
CLAIM_SECONDS = 30.0
MAX_ATTEMPTS = 30  # about a day with the capped backoff below
TIMEOUT = (3.0, 5.0)


def post(session: requests.Session, url: str, payload: dict[str, Any]) -> str | None:
    """POST one message; None on success, else a short reason (no URL: it is a secret)."""
    try:
        response = session.post(
            url, data=json.dumps(payload, default=str), timeout=TIMEOUT, headers={"Content-Type": "application/json"}
        )
    except requests.RequestException as exc:
        return type(exc).__name__
    if 200 <= response.status_code < 300:
        return None
    return f"HTTP {response.status_code}"


def backoff(attempts: int) -> float:
    """Seconds before the next try: 2, 4, 8 … capped at 5 minutes."""
    return min(300.0, 2.0 ** min(attempts, 10))


def deliver_due(engine: Engine, session: requests.Session, url: str, limit: int = 20) -> int:
    """Claim due messages one at a time (oldest first), send each, record the outcome; returns how many were sent."""
    sent = 0
    for _ in range(limit):
        row = claim_next(engine)
        if row is None:
            break
        sent += send_one(engine, session, url, row)
    return sent


def claim_next(engine: Engine) -> Any | None:
    """Claim the oldest due message for CLAIM_SECONDS, or None when nothing is due.

    One at a time, so a claim only has to outlast one POST (at most TIMEOUT), never a batch sent
    in turn. A message waits while an older one of the same key is unsent (in backoff or claimed
    elsewhere): a key's messages reach the receiver strictly in order, so a `resolved` never
    overtakes the `firing` it ends.
    """
    # The f-strings below splice in only `now` (now_sql's fixed SQL clock expression) and `due`
    # (built from it): no input reaches the SQL text, values are bound parameters.
    now = now_sql(engine)
    due = (
        f"sent_at IS NULL AND next_try_at <= {now} AND (claimed_until IS NULL OR claimed_until < {now}) "  # noqa: S608
        "AND NOT EXISTS (SELECT 1 FROM alert_outbox earlier WHERE earlier.key = alert_outbox.key "
        "AND earlier.sent_at IS NULL AND earlier.id < alert_outbox.id)"
    )
    with engine.connect() as conn:
        probe = text(f"SELECT 1 FROM alert_outbox WHERE {due} LIMIT 1")  # noqa: S608 -- see `now` above
        if not conn.execute(probe).first():
            return None
    with write(engine) as conn:
        # The outer conditions are re-checked on a row another process just claimed (PostgreSQL
        # re-evaluates them on the new row version), so a message is claimed by one process only.
        return conn.execute(
            text(
                f"UPDATE alert_outbox SET claimed_until={now}+:claim, attempts=attempts+1 "  # noqa: S608 -- see `now`
                f"WHERE id IN (SELECT id FROM alert_outbox WHERE {due} ORDER BY id LIMIT 1) AND {due} "
                "RETURNING id, key, payload, attempts"
            ),
            {"claim": CLAIM_SECONDS},
        ).first()


def send_one(engine: Engine, session: requests.Session, url: str, row: Any) -> int:
    """POST one claimed message and record the outcome; 1 when it was delivered, else 0."""
    # `now` is now_sql's fixed SQL clock expression (see claim_next): no input reaches the SQL text.
    now = now_sql(engine)
    payload = json.loads(row.payload)
    error = post(session, url, payload)
    extra: dict[str, Any] = {}
    if error is None:
        sql, level, event = f"sent_at={now}, last_error=NULL", logging.INFO, "alert sent"
    elif row.attempts >= MAX_ATTEMPTS:
        sql, level, event = "sent_at=-1, last_error=:e", logging.ERROR, "alert dropped after retries"
        extra = {"error": error}
    else:
        sql, level, event = f"next_try_at={now}+:d, last_error=:e", logging.WARNING, "alert delivery failed; will retry"
        extra = {"error": error, "retry_in": backoff(row.attempts)}
    with write(engine) as conn:
        conn.execute(
            text(f"UPDATE alert_outbox SET {sql}, claimed_until=NULL WHERE id=:id"),  # noqa: S608 -- fixed literals
            {"id": row.id, "e": error, "d": backoff(row.attempts)},
        )
    log(
        logger,
        level,
        event,
        alert=payload.get("alert"),
        state=payload.get("state"),
        key=row.key,
        attempts=row.attempts,
        **extra,
    )
    return 1 if error is None else 0
