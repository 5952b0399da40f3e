"""The leadSearch backstop against the fake Engage on a socket: pass counts of loaded leads no event mentioned."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from dispatch.backstop import DialBackstop
from store import db, dialing

pytestmark = pytest.mark.process  # the fake Engage on a loopback socket


@pytest.fixture
def engine(db_url):
    """A migrated database."""
    eng = db.make_engine(db_url)
    db.upgrade(eng)
    yield eng
    eng.dispose()


def add_lead(
    engine, extern_id: str, campaign: str, delivered_ago: float, first_attempt_ago: float | None = None
) -> int:
    """A loaded lead row (and its event), as the dispatcher leaves it after Engage's 200."""
    now = time.time()
    with db.write(engine) as conn:
        event_id = conn.execute(
            text(
                "INSERT INTO events (source, received_at, method, path, status) "
                "VALUES ('web', :at, 'POST', '/webhooks/web', 'accepted') RETURNING id"
            ),
            {"at": now - delivered_ago - 1},
        ).scalar_one()
        return int(
            conn.execute(
                text(
                    "INSERT INTO leads (event_id, source, record_key, extern_id, status, priority, campaign, sandbox, "
                    "received_at, updated_at, next_attempt_at, attempts, claims, delivered_at, first_attempt_at) VALUES "
                    "(:e, 'web', :x, :x, 'delivered', 'IMMEDIATE', :c, false, :r, :r, 0, 1, 0, :d, :f) RETURNING id"
                ),
                {
                    "e": event_id,
                    "x": extern_id,
                    "c": campaign,
                    "r": now - delivered_ago - 1,
                    "d": now - delivered_ago,
                    "f": None if first_attempt_ago is None else now - first_attempt_ago,
                },
            ).scalar_one()
        )


def test_backstop_stores_pass_counts_and_not_dialed_trusts_them(engine, client, fake, hot):
    """X0 dialed twice without an event, X1 never: both asked once; only X1 is still `not_dialed`."""
    client.load_leads(
        hot,
        [{"externId": x, "leadPhone": f"303555014{i}"} for i, x in enumerate(("X0", "X1"))],
        dial_priority="IMMEDIATE",
        description="t",
    )
    assert fake.dial("X0", passes=2) == 1
    add_lead(engine, "X9", "Hot Inbound", delivered_ago=3000, first_attempt_ago=2900)  # the campaign sends events
    x0 = add_lead(engine, "X0", "Hot Inbound", delivered_ago=1800)
    x1 = add_lead(engine, "X1", "Hot Inbound", delivered_ago=1800)
    add_lead(engine, "Q1", "Inbound Leads", delivered_ago=1800)  # a campaign that never reported: not asked
    backend = SimpleNamespace(client=client, directory=SimpleNamespace(resolve=fake.campaign_id))
    backstop = DialBackstop(engine, lambda: backend, lambda: True)
    assert backstop.run_once() == 2
    with engine.connect() as conn:
        rows = {
            r.id: (r.dial_passes, r.dial_checked_at)
            for r in conn.execute(text("SELECT id, dial_passes, dial_checked_at FROM leads"))
        }
        late = dialing.not_dialed(conn, time.time(), after=900)
    assert rows[x0][0] == 2 and rows[x1][0] == 0 and rows[x0][1] is not None
    assert [(r["campaign"], r["leads"]) for r in late] == [("Hot Inbound", 1)]
    assert backstop.run_once() == 0  # asked again only after RECHECK
    assert fake.stats()["search_calls"] == 1  # one call for the campaign's two leads


def test_backstop_waits_for_leadership_and_stops_when_search_is_refused(engine, client, fake, hot):
    """No backend or not leading: nothing asked; a 403 from leadSearch switches the backstop off."""
    add_lead(engine, "X9", "Hot Inbound", delivered_ago=3000, first_attempt_ago=2900)
    add_lead(engine, "X0", "Hot Inbound", delivered_ago=1800)
    backend = SimpleNamespace(client=client, directory=SimpleNamespace(resolve=fake.campaign_id))
    assert DialBackstop(engine, lambda: None, lambda: True).run_once() == 0
    assert DialBackstop(engine, lambda: backend, lambda: False).run_once() == 0
    fake.set_fault(search_status=403)
    refused = DialBackstop(engine, lambda: backend, lambda: True)
    assert refused.run_once() == 0 and refused.refused
    assert refused.run_once() == 0 and fake.stats()["search_calls"] == 1
