"""Past their row caps, the speed-to-lead snapshot and the 24 h chart read the newest rows, so every
process computes the same numbers (not whichever rows the database happened to return first)."""

from __future__ import annotations

import time

from sqlalchemy import text

from store import operator
from store.db import write
from tests.admin.helpers import CONFIG, TOKEN, post_lead


def six_delivered(make_app, url: str):
    """Six delivered leads: three old and slow (100 s) stored first, three recent and fast (1 s); the engine."""
    app = make_app(CONFIG, url, ADMIN_TOKEN=TOKEN)
    client = app.test_client()
    for n in range(6):
        post_lead(client, n + 1)
    engine = app.extensions["leadrelay"].engine
    now = time.time()
    with write(engine) as conn:
        for lead_id in range(1, 7):
            old = lead_id <= 3
            received = now - (7200 if old else 11)
            delivered = received + (100 if old else 1)
            conn.execute(
                text("UPDATE leads SET status='delivered', received_at=:r, delivered_at=:d WHERE id=:id"),
                {"r": received + lead_id, "d": delivered + lead_id, "id": lead_id},
            )
    return engine, now


def test_speed_samples_past_the_cap_are_the_newest(make_app, db_url, monkeypatch):
    """With room for three samples, speed-to-lead is the recent leads' 1 s, not the old ones' 100 s."""
    engine, _ = six_delivered(make_app, db_url)
    for lead_id in range(1, 4):  # the old ones inside the window too, so only the cap can tell them apart
        with write(engine) as conn:
            conn.execute(
                text("UPDATE leads SET delivered_at=:d WHERE id=:id"), {"d": time.time() - 60 + lead_id, "id": lead_id}
            )
            conn.execute(text("UPDATE leads SET received_at=delivered_at - 100 WHERE id=:id"), {"id": lead_id})
    monkeypatch.setattr(operator, "SPEED_ROWS_MAX", 3)
    speed = operator.snapshot(engine).speed
    counted = [lane for lane in speed.values() if lane["count"]]
    assert len(counted) == 1 and counted[0]["count"] == 3
    assert counted[0]["p50"] == 1.0 and counted[0]["p95"] == 1.0


def test_hourly_chart_past_the_cap_keeps_the_newest(make_app, db_url, monkeypatch):
    """With room for three rows, the 24 h chart shows the last hour's three leads, not the old ones."""
    engine, now = six_delivered(make_app, db_url)
    monkeypatch.setattr(operator, "HOURLY_ROWS_MAX", 3)
    buckets = operator.hourly(engine, now)
    assert sum(b["total"] for b in buckets) == 3
    # The recent leads' hour (starts after now - 1.5 h); the old ones' hour starts before now - 2 h.
    assert sum(b["total"] for b in buckets if b["start"] > now - 5400) == 3
