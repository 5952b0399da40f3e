"""Every hot-path lookup has an index: the planner uses it on a filled table (SQLite and PostgreSQL).

The ack latency from an empty table to 1M lead rows is measured by `python -m bench.front --rows`
(docs/benchmarks.md); here, the plans that made it flat."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from store import db
from store.ingest import _PRIOR, _RECENT

ROWS = 20_000


def fill(engine) -> None:
    """ROWS leads in one event, spread over 50 sources, then fresh planner statistics."""
    with db.write(engine) as conn:
        conn.execute(
            text(
                "INSERT INTO events (source, received_at, method, path, status) "
                "VALUES ('s0', 0, 'POST', '/', 'accepted')"
            )
        )
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "INSERT INTO leads (event_id, source, record_key, extern_id, status, priority, campaign, sandbox, "
                    "received_at, updated_at, next_attempt_at, attempts, claims) "
                    "SELECT 1, 's' || (g % 50), 'k:' || g, 'x' || g, 'delivered', 'NORMAL', 'c', false, g, g, 0, 0, 0 "
                    f"FROM generate_series(1, {ROWS}) g"
                )
            )
        else:
            conn.execute(
                text(
                    "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < :rows) "
                    "INSERT INTO leads (event_id, source, record_key, extern_id, status, priority, campaign, sandbox, "
                    "received_at, updated_at, next_attempt_at, attempts, claims) "
                    "SELECT 1, 's' || (n % 50), 'k:' || n, 'x' || n, 'delivered', 'NORMAL', 'c', 0, n, n, 0, 0, 0 FROM g"
                ),
                {"rows": ROWS},
            )
        conn.execute(text("ANALYZE"))


def plan(engine, statement, params: dict) -> str:
    """The query plan as one string."""
    sql = statement.text
    prefix = "EXPLAIN " if engine.dialect.name == "postgresql" else "EXPLAIN QUERY PLAN "
    with engine.connect() as conn:
        rows = conn.execute(text(prefix + sql), params).fetchall()
    return "\n".join(" ".join(str(c) for c in row) for row in rows)


@pytest.fixture
def engine(db_url):
    """A migrated, filled database."""
    eng = db.make_engine(db_url)
    db.upgrade(eng)
    fill(eng)
    yield eng
    eng.dispose()


def test_duplicate_lookup_uses_the_source_record_key_index(engine):
    """Before: a sequential scan of every lead for each re-sent record (293 ms median ack at 1M rows)."""
    found = plan(engine, _PRIOR, {"source": "s7", "key": "k:7"})
    assert "ix_leads_source_record_key" in found, found


def test_suppression_lookup_uses_its_index(engine):
    """The suppression check on every queued record stays an index lookup."""
    found = plan(engine, _RECENT["extern_id"], {"campaign": "c", "value": "x7", "since": 0})
    # Either index keyed by the externId is a lookup (the planner may prefer the dialer-event match's
    # (extern_id, id) now that suppression also counts from a disposition); never a scan of leads.
    assert "ix_leads_suppress_extern" in found or "ix_leads_extern" in found, found
    assert "Seq Scan" not in found and "SCAN leads" not in found, found


def test_retention_range_uses_an_index(engine):
    """The retention sweep's range (SQLite holds the write lock while it runs) is an index range."""
    found = plan(engine, text("SELECT id FROM leads WHERE received_at < :cutoff"), {"cutoff": 10})
    assert "ix_leads_received" in found, found
