"""Alerts evaluated from the database: one message per condition change whatever the number of
processes, repeats, resolution, retries of a failing receiver, and database_down per process."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text

from alerts.runner import AlertRunner
from harness.processes import free_port
from store import db
from store.db import write
from tests.admin.helpers import post_lead
from tests.alerts.helpers import config, runners, tick


def tick_all(loops: list[AlertRunner]) -> None:
    """One round in every 'process' at the same time, each on a fresh snapshot."""
    time.sleep(0.25)
    threads = [threading.Thread(target=loop.tick) for loop in loops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def set_status(app, status: str) -> None:
    """Move every lead to `status` (what the dispatcher would do), straight in the database."""
    with write(app.extensions["leadrelay"].engine) as conn:
        conn.execute(text("UPDATE leads SET status=:s, updated_at=:now"), {"s": status, "now": time.time()})


def test_one_message_per_change_across_processes(make_app, db_url, receiver):
    """Three processes evaluate together: each change (dispatcher_down, lead_dead, resolved) is sent once."""
    app = make_app(config(receiver), db_url, ADMIN_TOKEN="t")
    client = app.test_client()
    post_lead(client, 1)
    loops = runners(app, 3)
    for _ in range(3):
        tick_all(loops)
    assert [m["state"] for m in receiver.of("dispatcher_down")] == ["firing"]
    message = receiver.of("dispatcher_down")[0]
    assert "1 lead(s) are waiting" in message["text"] and "dispatch run" in message["text"]
    set_status(app, "dead")
    for _ in range(3):
        tick_all(loops)
    assert [m["state"] for m in receiver.of("dispatcher_down")] == ["firing", "resolved"]
    assert [m["state"] for m in receiver.of("lead_dead")] == ["firing"]
    assert receiver.of("lead_dead")[0]["details"]["dead"] == 1
    # Replayed: nothing dead is left, so lead_dead resolves (and the waiting lead brings dispatcher_down back).
    set_status(app, "queued")
    for _ in range(3):
        tick_all(loops)
    assert [m["state"] for m in receiver.of("lead_dead")] == ["firing", "resolved"]
    assert [m["state"] for m in receiver.of("dispatcher_down")] == ["firing", "resolved", "firing"]
    for loop in loops:
        loop.engine.dispose()


def test_repeat_and_retry(make_app, sqlite_url, receiver):
    """A failing receiver is retried (the message arrives later); a lasting condition repeats."""
    app = make_app(config(receiver).replace("repeat_every: 1h", "repeat_every: 0.5s"), sqlite_url, ADMIN_TOKEN="t")
    post_lead(app.test_client(), 1)
    receiver.fail_next = 1
    (loop,) = runners(app, 1)
    tick(loop)
    assert receiver.failed == 1 and not receiver.of("dispatcher_down")
    with write(loop.engine) as conn:  # skip the backoff wait
        conn.execute(text("UPDATE alert_outbox SET next_try_at=0"))
    tick(loop)
    assert len(receiver.of("dispatcher_down", "firing")) == 1
    time.sleep(0.6)
    tick(loop)
    assert len(receiver.of("dispatcher_down", "firing")) == 2
    loop.engine.dispose()


def test_backlog_stale_and_source_silent(make_app, sqlite_url, receiver):
    """The oldest waiting lead past backlog_max_age, and a source silent past expect_every."""
    body = config(receiver).replace("backlog_max_age: 1h", "backlog_max_age: 0.3s")
    body = body.replace("    token: src-token\n", "    token: src-token\n    expect_every: 0.5s\n", 1)
    app = make_app(body, sqlite_url, ADMIN_TOKEN="t")
    post_lead(app.test_client(), 1)
    (loop,) = runners(app, 1)
    time.sleep(0.7)
    tick(loop)
    stale = receiver.of("backlog_stale", "firing")
    assert len(stale) == 1 and stale[0]["details"]["oldest_seconds"] >= 0.3
    silent = receiver.of("source_silent", "firing")
    assert len(silent) == 1 and silent[0]["details"]["source"] == "hubspot"
    post_lead(app.test_client(), 2)
    set_status(app, "delivered")
    tick(loop)
    assert len(receiver.of("source_silent", "resolved")) == 1 and len(receiver.of("backlog_stale", "resolved")) == 1
    loop.engine.dispose()


def test_database_down_is_sent_by_the_process_that_sees_it(make_app, sqlite_url, receiver):
    """A process whose database is unreachable says so itself, once per repeat_every, and resolves."""
    app = make_app(config(receiver), sqlite_url, ADMIN_TOKEN="t")
    settings = app.extensions["leadrelay"].settings
    port = free_port()  # nothing listens here: a database that is gone
    dead = db.make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/none?connect_timeout=1")
    loop = AlertRunner(dead, settings, threading.Event())
    for _ in range(4):
        tick(loop)
    down = receiver.of("database_down", "firing")
    assert len(down) == 1 and "cannot reach the database" in down[0]["text"]
    loop.engine = app.extensions["leadrelay"].engine  # the database is back
    tick(loop)
    assert len(receiver.of("database_down", "resolved")) == 1
    dead.dispose()


def test_webhook_url_is_never_logged(make_app, sqlite_url, receiver, caplog):
    """The receiver URL is a secret: delivery failures log the reason, not the URL."""
    app = make_app(config(receiver), sqlite_url, ADMIN_TOKEN="t")
    post_lead(app.test_client(), 1)
    receiver.fail_next = 5
    (loop,) = runners(app, 1)
    tick(loop)
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "alert delivery failed" in logged and "HTTP 500" in logged and "secret-part" not in logged
    loop.engine.dispose()


def test_campaign_held_names_the_campaign(make_app, sqlite_url, receiver):
    """A campaign breaker holding leads: one campaign_held for that campaign, resolved on release."""
    app = make_app(config(receiver), sqlite_url, ADMIN_TOKEN="t")
    post_lead(app.test_client(), 1)
    with write(app.extensions["leadrelay"].engine) as conn:
        conn.execute(
            text("UPDATE leads SET status='held', last_error=:e"),
            {"e": "campaign 'Hot Inbound' breaker open: campaign not found (404)"},
        )
    (loop,) = runners(app, 1)
    tick(loop)
    held = receiver.of("campaign_held", "firing")
    assert len(held) == 1 and held[0]["details"]["campaign"] == "Hot Inbound" and "/admin/holds" in held[0]["text"]
    app.extensions["leadrelay"].queue.release_held("Hot Inbound")
    tick(loop)
    assert len(receiver.of("campaign_held", "resolved")) == 1
    loop.engine.dispose()


def test_a_hanging_receiver_never_slows_intake(make_app, sqlite_url, receiver):
    """The receiver takes 4 s per answer: webhooks are still answered at once while alerts are sent."""
    app = make_app(config(receiver), sqlite_url, ADMIN_TOKEN="t")
    client = app.test_client()
    post_lead(client, 1)
    receiver.delay = 4.0
    (loop,) = runners(app, 1)
    sending = threading.Thread(target=loop.tick)
    sending.start()
    time.sleep(0.5)  # the alert POST is now in flight
    slowest = 0.0
    for n in range(2, 12):
        started = time.monotonic()
        post_lead(client, n)
        slowest = max(slowest, time.monotonic() - started)
    assert sending.is_alive(), "the receiver should still be holding the alert"
    assert slowest < 1.0, f"a webhook waited {slowest:.2f}s behind an alert delivery"
    sending.join()
    assert receiver.of("dispatcher_down", "firing")
    loop.engine.dispose()
