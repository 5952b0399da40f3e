"""Speed to first dial: /metrics agrees with the stored times; `not_dialed` names late campaigns that send events."""

from __future__ import annotations

import time

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from alerts.conditions import evaluate, message
from metrics import SNAPSHOTS
from store import dialing
from store.db import write
from store.operator import quantile, snapshot
from tests.intake.helpers import RINGCX_CONFIG, dial, loaded_lead


@pytest.fixture
def service(make_app, db_url):
    """The app with a form source and a ringcx source."""
    app = make_app(RINGCX_CONFIG, db_url)
    return app, app.test_client(), app.extensions["leadrelay"].engine


def gauges(http) -> dict[tuple[str, frozenset], float]:
    """The first-dial gauges of one scrape: (name, its labels) → value."""
    SNAPSHOTS._entries.clear()
    out = {}
    for family in text_string_to_metric_families(http.get("/metrics").get_data(as_text=True)):
        for sample in family.samples:
            if sample.name.startswith("leadrelay_first_dial"):
                out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def key(name: str, **labels: str) -> tuple[str, frozenset]:
    """A gauge's key for the Hot Inbound campaign of the `web` source."""
    return (name, frozenset({"source": "web", "campaign": "Hot Inbound", **labels}.items()))


def test_metrics_agree_with_the_stored_times(service):
    """Leads received 20 s … 400 s before their first attempt: p50/p90 and the 60 s / 5 min shares are the stored ones."""
    _, http, engine = service
    waits = [20.0, 45.0, 70.0, 150.0, 400.0]
    for n, wait in enumerate(waits):
        lead_id = loaded_lead(http, engine, f"lead-{n}", f"30355501{n:02d}")
        with write(engine) as conn:
            conn.execute(
                text("UPDATE leads SET received_at = received_at - :w WHERE id = :id"), {"w": wait, "id": lead_id}
            )
        dial(http, f"uii-{n}", f"lead-{n}")
        dial(http, f"uii-{n}-again", f"lead-{n}")  # a second attempt moves nothing
    with engine.connect() as conn:
        stored = sorted(
            float(r[0])
            for r in conn.execute(
                text("SELECT first_attempt_at - received_at FROM leads WHERE first_attempt_at IS NOT NULL")
            )
        )
    assert [round(s) for s in stored] == [20, 45, 70, 150, 400]
    got = gauges(http)
    assert got[key("leadrelay_first_dial_count", window="1h")] == 5
    assert got[key("leadrelay_first_dial_seconds", window="1h", quantile="0.5")] == round(quantile(stored, 0.5), 3)
    assert got[key("leadrelay_first_dial_seconds", window="1h", quantile="0.9")] == round(quantile(stored, 0.9), 3)
    assert got[key("leadrelay_first_dial_within_ratio", window="1h", within="60")] == 0.4
    assert got[key("leadrelay_first_dial_within_ratio", window="1h", within="300")] == 0.8
    assert got[key("leadrelay_first_dial_count", window="24h")] == 5


def test_a_lead_that_waited_for_its_window_counts_from_the_opening(service):
    """Received at night (10 h before), released at its window's opening (30 s before the dial): 30 s, not 10 h."""
    _, http, engine = service
    lead_id = loaded_lead(http, engine, "night-1", "3035550177")
    with write(engine) as conn:
        conn.execute(
            text("UPDATE leads SET received_at = received_at - 36000, clock_from = :opening WHERE id = :id"),
            {"opening": time.time() - 30, "id": lead_id},
        )
    dial(http, "uii-night", "night-1")
    got = gauges(http)
    assert got[key("leadrelay_first_dial_count", window="1h")] == 1
    assert 29 <= got[key("leadrelay_first_dial_seconds", window="1h", quantile="0.5")] <= 60
    assert got[key("leadrelay_first_dial_within_ratio", window="1h", within="60")] == 1.0


def test_out_of_order_events_keep_the_earliest_attempt(service):
    """A later-received event cannot move the first attempt (the earliest time wins)."""
    _, http, engine = service
    lead_id = loaded_lead(http, engine, "lead-x", "3035550150")
    dial(http, "uii-a", "lead-x")
    with engine.connect() as conn:
        first = conn.execute(text("SELECT first_attempt_at FROM leads WHERE id = :id"), {"id": lead_id}).scalar_one()
    dial(http, "uii-b", "lead-x", kind="post_disposition")
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT first_attempt_at FROM leads WHERE id = :id"), {"id": lead_id}).scalar_one()
            == first
        )


def test_not_dialed_only_for_campaigns_that_send_events(service):
    """A lead loaded 20 minutes ago without an attempt alerts in a campaign that reports calls, not in a silent one."""
    app, http, engine = service
    now = time.time()
    dialed = loaded_lead(http, engine, "d-1", "3035550160")
    dial(http, "uii-d", "d-1")
    late = loaded_lead(http, engine, "late-1", "3035550161", at=now - 1200)
    loaded_lead(http, engine, "quiet-1", "3035550162", hot="no", at=now - 1200)  # Inbound Leads: never sends events
    with engine.connect() as conn:
        rows = dialing.not_dialed(conn, now, after=900)
    assert [(r["campaign"], r["leads"]) for r in rows] == [("Hot Inbound", 1)]
    settings = app.extensions["leadrelay"].settings
    conditions = [c for c in evaluate(engine, settings, snapshot(engine), {}) if c.kind == "not_dialed"]
    assert [(c.key, c.active, c.details["leads"]) for c in conditions] == [("not_dialed:Hot Inbound", True, 1)]
    text_ = message("not_dialed", "firing", conditions[0].details, since=now - 60, now=now)
    assert "1 lead(s) loaded into campaign 'Hot Inbound' more than 15 minutes ago" in text_
    dial(http, "uii-late", "late-1")
    assert [c for c in evaluate(engine, settings, snapshot(engine), {}) if c.kind == "not_dialed"] == []
    assert dialed != late
