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
    """Claim due messages (oldest first), send them, record the outcome; returns how many were sent."""
    # The f-strings below splice in only `now` (now_sql's fixed SQL clock expression) and `due`
    # (built from it): no input reaches the SQL text, values are bound parameters.
    now = now_sql(engine)
    due = f"sent_at IS NULL AND next_try_at <= {now} AND (claimed_until IS NULL OR claimed_until < {now})"
    with engine.connect() as conn:
        probe = text(f"SELECT 1 FROM alert_outbox WHERE {due} LIMIT 1")  # noqa: S608 -- see `now` above
        if not conn.execute(probe).first():
            return 0
    with write(engine) as conn:
        # The outer conditions are re-checked on a row another process just claimed (PostgreSQL
        # re-evaluates them on the new row version), so a message is claimed by one process only.
        rows = conn.execute(
            text(
                f"UPDATE alert_outbox SET claimed_until={now}+:claim, attempts=attempts+1 "  # noqa: S608 -- see `now`
                f"WHERE id IN (SELECT id FROM alert_outbox WHERE {due} ORDER BY id LIMIT :limit) AND {due} "
                "RETURNING id, key, payload, attempts"
            ),
            {"claim": CLAIM_SECONDS, "limit": limit},
        ).fetchall()
    sent = 0
    for row in sorted(rows, key=lambda r: r.id):
        payload = json.loads(row.payload)
        error = post(session, url, payload)
        with write(engine) as conn:
            if error is None:
                conn.execute(
                    text(f"UPDATE alert_outbox SET sent_at={now}, claimed_until=NULL, last_error=NULL WHERE id=:id"),  # noqa: S608
                    {"id": row.id},
                )
                sent += 1
                log(
                    logger,
                    logging.INFO,
                    "alert sent",
                    alert=payload.get("alert"),
                    state=payload.get("state"),
                    key=row.key,
                    attempts=row.attempts,
                )
            elif row.attempts >= MAX_ATTEMPTS:
                conn.execute(
                    text("UPDATE alert_outbox SET sent_at=-1, claimed_until=NULL, last_error=:e WHERE id=:id"),
                    {"id": row.id, "e": error},
                )
                log(
                    logger,
                    logging.ERROR,
                    "alert dropped after retries",
                    alert=payload.get("alert"),
                    state=payload.get("state"),
                    key=row.key,
                    attempts=row.attempts,
                    error=error,
                )
            else:
                conn.execute(
                    text(
                        f"UPDATE alert_outbox SET next_try_at={now}+:d, claimed_until=NULL, last_error=:e WHERE id=:id"  # noqa: S608
                    ),
                    {"id": row.id, "d": backoff(row.attempts), "e": error},
                )
                log(
                    logger,
                    logging.WARNING,
                    "alert delivery failed; will retry",
                    alert=payload.get("alert"),
                    state=payload.get("state"),
                    key=row.key,
                    attempts=row.attempts,
                    error=error,
                    retry_in=backoff(row.attempts),
                )
    return sent
