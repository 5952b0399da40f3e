"""The database-backed gauges: values from the database, a 5 s cache, and no failed scrape when the
database is gone."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from harness.processes import free_port
from metrics import SNAPSHOTS, operator_status
from store import db
from store.db import write
from tests.admin.helpers import CONFIG, post_lead


def gauges(client) -> dict[str, float]:
    """The operator gauges of one scrape."""
    out = {}
    for line in client.get("/metrics").get_data(as_text=True).splitlines():
        if line.startswith("leadrelay_") and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


def test_gauges_come_from_the_database(make_app, db_url):
    """Statuses, the oldest waiting lead per lane, dispatcher_up, speed-to-lead from delivered rows."""
    app = make_app(CONFIG, db_url)
    client = app.test_client()
    for n in range(3):
        post_lead(client, n)
    now = time.time()
    with write(app.extensions["leadrelay"].engine) as conn:
        conn.execute(
            text("UPDATE leads SET received_at=:r, delivered_at=:d, status='delivered' WHERE id IN (1, 2)"),
            {"r": now - 2.0, "d": now},
        )
        conn.execute(text("UPDATE leads SET received_at=:r WHERE id=3"), {"r": now - 30.0})
    SNAPSHOTS._entries.clear()
    got = gauges(client)
    assert got['leadrelay_leads{status="delivered"}'] == 2 and got['leadrelay_leads{status="queued"}'] == 1
    assert got['leadrelay_leads{status="dead"}'] == 0
    assert 29 < got['leadrelay_queue_oldest_seconds{lane="IMMEDIATE"}'] < 60
    assert got['leadrelay_queue_oldest_seconds{lane="NORMAL"}'] == 0
    assert got["leadrelay_dispatcher_up"] == 0 and got["leadrelay_database_up"] == 1
    assert 1.9 < got['leadrelay_speed_to_lead_recent_seconds{lane="IMMEDIATE",quantile="0.5"}'] < 2.5
    assert got['leadrelay_speed_to_lead_recent_count{lane="IMMEDIATE"}'] == 2
    # Cached: a change shows after the cache period, not before; ages keep growing meanwhile.
    post_lead(client, 9)
    again = gauges(client)
    assert again['leadrelay_leads{status="queued"}'] == 1
    assert (
        again['leadrelay_queue_oldest_seconds{lane="IMMEDIATE"}']
        > got['leadrelay_queue_oldest_seconds{lane="IMMEDIATE"}']
    )


@pytest.mark.process  # binds a socket for a free port (nothing listens there)
def test_database_gone_is_reported_not_a_failed_scrape():
    """An unreachable database: the snapshot is None, /readyz's operator body says so."""
    engine = db.make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none?connect_timeout=1")
    assert SNAPSHOTS.get(engine) is None
    assert operator_status(engine) == {"database": "unavailable"}
    engine.dispose()
