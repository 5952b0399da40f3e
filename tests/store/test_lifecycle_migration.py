"""Revision 0005 backfills status_reason and unknown_fate from the last_error texts the code wrote before it."""

from __future__ import annotations

import time

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from lead.lifecycle import LeadReason
from store import db

# (status, last_error as the dispatcher wrote it before 0005) → (status_reason, unknown_fate)
CASES = [
    ("held", "Engage authentication failed: 401 invalid_grant", LeadReason.ACCOUNT_HOLD, False),
    ("held", "campaign 'Hot' breaker open: campaign not found (404)", LeadReason.CAMPAIGN_HOLD, False),
    ("retrying", "Engage unavailable: 503 Service Unavailable", LeadReason.OUTAGE, False),
    ("retrying", "fate unknown: Engage unavailable: read timeout", LeadReason.OUTAGE, True),
    ("retrying", "token exchange throttled; waiting 12.0s", LeadReason.TOKEN_EXCHANGE, False),
    ("retrying", "throttled (429); pausing 3.0s", LeadReason.THROTTLE, False),
    ("retrying", "fate unknown: lookup throttled (429)", LeadReason.THROTTLE, True),
    ("retrying", "GENERAL_FAILURE from the lead loader", LeadReason.ENGAGE_ERROR, False),
    ("retrying", "fate unknown: unreadable answer (200)", LeadReason.ENGAGE_ERROR, True),
    ("queued", "fate unknown: crash: RuntimeError('boom')", LeadReason.CRASH_RECOVERY, True),
    ("queued", None, None, False),
    ("delivered", None, None, False),
    ("dead", "retry budget spent; last error: Engage unavailable: 503", None, False),
]


def _alembic(conn) -> Config:
    """An alembic config bound to one connection."""
    cfg = Config()
    cfg.set_main_option("script_location", str(db.MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def test_0005_backfills_reasons_from_the_old_prefixes(db_url):
    engine = db.make_engine(db_url)
    try:
        with db.write(engine) as conn:
            command.upgrade(_alembic(conn), "0004")
        now = time.time()
        with db.write(engine) as conn:
            event = conn.execute(
                text(
                    "INSERT INTO events (source, received_at, method, path, status) "
                    "VALUES ('s', :t, 'POST', '/', 'accepted') RETURNING id"
                ),
                {"t": now},
            ).scalar_one()
            for i, (status, error, _, _) in enumerate(CASES):
                conn.execute(
                    text(
                        "INSERT INTO leads (event_id, source, record_key, status, priority, campaign, sandbox, "
                        "received_at, updated_at, next_attempt_at, attempts, claims, last_error) VALUES "
                        "(:e, 's', :k, :s, 'NORMAL', 'Hot', false, :t, :t, 0, 0, 0, :err)"
                    ),
                    {"e": event, "k": f"k{i}", "s": status, "t": now, "err": error},
                )
        db.upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT status_reason, unknown_fate FROM leads ORDER BY id")).fetchall()
        assert [(r[0], bool(r[1])) for r in rows] == [(reason, unknown) for _, _, reason, unknown in CASES]
        # Down and up again: the columns go and come back (the backfill is repeatable).
        with db.write(engine) as conn:
            command.downgrade(_alembic(conn), "0004")
        db.upgrade(engine)
        with engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM leads WHERE status_reason IS NOT NULL")).scalar() == 10
    finally:
        engine.dispose()
