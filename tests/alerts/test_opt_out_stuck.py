"""`opt_out_stuck`: an Engage job (DNC entry, lead action) not done within an hour fires once; done resolves it.

Also the operator's side of it: `flask jobs list --stuck` shows the job, `flask jobs retry` re-queues a failed one.
"""

from __future__ import annotations

import time

from alerts.conditions import OPT_OUT_STUCK_AFTER
from store.db import write
from store.lease import Lease
from store.outbox import DONE, ENGAGE_DNC_ADD, FAILED, PENDING, JobSettlement, Outbox, enqueue
from tests.alerts.helpers import config, runners, tick


def add(app, key, age):
    """Enqueue a DNC job created `age` seconds ago."""
    with write(app.extensions["leadrelay"].engine) as conn:
        return enqueue(conn, ENGAGE_DNC_ADD, key, {"phones": ["+13035550142"]}, now=time.time() - age)


def settle(app, job_id, state, error=None):
    """Claim the job as a leader would and settle it."""
    engine = app.extensions["leadrelay"].engine
    lease = Lease(engine, "test", ttl=30)
    epoch = lease.acquire()
    assert epoch is not None
    outbox = Outbox(engine)
    claimed = [j.id for j in outbox.claim(epoch, "test", [ENGAGE_DNC_ADD], 10, 30)]
    assert job_id in claimed
    others = [JobSettlement(i, PENDING, count_attempt=False) for i in claimed if i != job_id]
    outbox.settle(epoch, [JobSettlement(job_id, state, error=error), *others])
    lease.release()


def test_an_opt_out_not_done_within_an_hour_fires_once_and_resolves(make_app, sqlite_url, receiver):
    """A job 59 minutes old is fine; at 61 it fires (once across ticks); done resolves it."""
    app = make_app(config(receiver), sqlite_url, ADMIN_TOKEN="t")
    add(app, "young", OPT_OUT_STUCK_AFTER - 60)
    (loop,) = runners(app, 1)
    tick(loop)
    assert receiver.of("opt_out_stuck") == []
    old = add(app, "old", OPT_OUT_STUCK_AFTER + 60)
    tick(loop)
    tick(loop)
    [firing] = receiver.of("opt_out_stuck", "firing")
    assert firing["details"]["jobs"] == 1 and firing["details"]["job_ids"] == [old]
    assert "may still be called" in firing["text"] and "jobs list --stuck" in firing["text"]
    settle(app, old, DONE)
    tick(loop)
    assert len(receiver.of("opt_out_stuck", "resolved")) == 1
    loop.engine.dispose()


def test_a_failed_opt_out_keeps_firing_until_retried(make_app, sqlite_url, receiver):
    """A failed job never finishes by itself: it counts as stuck; `jobs retry` re-queues it, `jobs list` shows it."""
    app = make_app(config(receiver), sqlite_url, ADMIN_TOKEN="t")
    job_id = add(app, "refused", OPT_OUT_STUCK_AFTER + 60)
    settle(app, job_id, FAILED, error="400 from Engage for 303-555-0142")
    (loop,) = runners(app, 1)
    tick(loop)
    assert len(receiver.of("opt_out_stuck", "firing")) == 1
    runner = app.test_cli_runner()
    listed = runner.invoke(args=["jobs", "list", "--stuck"])
    assert listed.exit_code == 0 and f"{job_id:>7} failed" in listed.output, listed.output
    assert "303-555-0142" not in listed.output  # masked
    retried = runner.invoke(args=["jobs", "retry", "--id", str(job_id), "--id", "999"])
    assert retried.exit_code == 0 and "re-queued 1 of 2" in retried.output
    row = Outbox(app.extensions["leadrelay"].engine).get(job_id)
    assert row is not None and (row.state, row.attempts) == (PENDING, 0)
    by_state = runner.invoke(args=["jobs", "list", "--state", "pending"])
    assert f"{job_id:>7} pending" in by_state.output
    loop.engine.dispose()
