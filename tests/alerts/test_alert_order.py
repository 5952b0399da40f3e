"""Alerts across processes stay true and in order: a stale snapshot never undoes a newer verdict,
a key's messages reach the receiver in the order they were decided, and a claim covers one POST."""

from __future__ import annotations

import json
import threading
import time

import requests
from sqlalchemy import text

from alerts import sender
from alerts.conditions import Condition
from alerts.state import transition
from store import db
from store.db import write
from tests.admin.helpers import CONFIG

KEY = "backlog_stale"
ON = Condition(KEY, KEY, True, {"age": 200})
OFF = Condition(KEY, KEY, False, {})


def engine_of(make_app, url: str):
    """A migrated database (through the app) and the app's engine."""
    return make_app(CONFIG, url, ADMIN_TOKEN="t").extensions["leadrelay"].engine


def outbox_states(engine) -> list[str]:
    """The states queued for the receiver, in the order they were decided."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT payload FROM alert_outbox ORDER BY id")).fetchall()
    return [json.loads(r.payload)["state"] for r in rows]


def test_a_stale_snapshot_does_not_undo_a_newer_verdict(make_app, db_url):
    """A fires at 100, B (fresh) resolves at 200, A on a snapshot from 196.5 must not fire again."""
    engine = engine_of(make_app, db_url)
    assert transition(engine, ON, KEY, KEY, 100.0, 3600, True) == "firing"
    assert transition(engine, OFF, KEY, KEY, 200.0, 3600, True) == "resolved"
    assert transition(engine, ON, KEY, KEY, 196.5, 3600, True) is None  # judged before B's verdict
    assert outbox_states(engine) == ["firing", "resolved"]
    # A snapshot newer than the verdict still counts: the backlog really came back.
    assert transition(engine, ON, KEY, KEY, 201.0, 3600, True) == "firing"


def test_a_resolved_never_overtakes_its_firing(make_app, db_url, receiver):
    """The firing fails and waits in backoff; the later resolved waits for it; Slack ends on resolved."""
    engine = engine_of(make_app, db_url)
    session = requests.Session()
    now = time.time() - 10  # both messages due at once, on the database's clock too
    transition(engine, ON, KEY, KEY, now, 3600, True)
    receiver.fail_next = 1
    assert sender.deliver_due(engine, session, receiver.url) == 0  # the firing is now in backoff
    transition(engine, OFF, KEY, KEY, now + 1, 3600, True)
    assert sender.deliver_due(engine, session, receiver.url) == 0  # the resolved waits its turn
    assert receiver.messages == []
    with write(engine) as conn:  # the backoff ends
        conn.execute(text("UPDATE alert_outbox SET next_try_at=0"))
    assert sender.deliver_due(engine, session, receiver.url) == 2
    assert [m["state"] for m in receiver.of(KEY)] == ["firing", "resolved"]


def test_a_claim_covers_one_slow_post_not_a_batch(make_app, db_url, receiver, monkeypatch):
    """Two processes deliver four messages to a slow receiver: each message arrives exactly once."""
    engine = engine_of(make_app, db_url)
    monkeypatch.setattr(sender, "CLAIM_SECONDS", 1.0)  # 30 s in production against (3, 5) s timeouts
    receiver.delay = 0.4  # four in turn take 1.6 s: longer than one claim
    now = time.time()
    for n in range(4):
        transition(engine, Condition(f"k{n}", KEY, True, {"age": n}), f"k{n}", KEY, now, 3600, True)
    url = engine.url.render_as_string(hide_password=False)
    deadline = time.monotonic() + 3.0

    def process() -> None:
        """One process's delivery loop (its own engine and session) for three seconds."""
        own, session = db.make_engine(url), requests.Session()
        try:
            while time.monotonic() < deadline:
                sender.deliver_due(own, session, receiver.url)
                time.sleep(0.05)
        finally:
            own.dispose()

    threads = [threading.Thread(target=process) for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.1)
    for thread in threads:
        thread.join()
    keys = sorted(m["details"]["key"] for m in receiver.of(KEY))
    assert keys == ["k0", "k1", "k2", "k3"]
