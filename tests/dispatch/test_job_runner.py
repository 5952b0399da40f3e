"""The job runner on its own (a registry of test kinds, a real lease and database): the handler contract.

What other kinds (the CRM write-backs) rely on: `register(kind, handler)` with one job per call,
Retry's `after`, Failed, a handler that raises (a poison job after `max_claims`), and a lookup that
decides an unknown fate before any resend.
"""

from __future__ import annotations

import time

import pytest

from dispatch.jobs import Done, Failed, JobContext, JobRegistry, JobRunner, Outcome, Retry, Unknown
from dispatch.ratelimit import RateLimiter
from store import db
from store.lease import Lease
from store.outbox import DONE, FAILED, PENDING, Outbox, enqueue

CFG = {
    "poll_interval": 0.05,
    "call_timeout": 1.0,
    "lease_seconds": 2.0,
    "max_claims": 2,
    "backoff_base": 0.01,
    "backoff_cap": 0.05,
    "outage_probe_cap": 0.1,
}


@pytest.fixture
def engine(db_url):
    """A migrated engine on a fresh database."""
    eng = db.make_engine(db_url)
    db.upgrade(eng)
    yield eng
    eng.dispose()


def runner(engine, registry):
    """A runner holding the lease, with a context (no Engage needed by the test kinds)."""
    lease = Lease(engine, "me", ttl=30)
    assert lease.acquire() is not None
    ctx = JobContext(backend=None, cfg=CFG, engine=engine)
    return JobRunner(engine, lease, "me", CFG, registry, lambda: ctx, RateLimiter([(100, 1.0)]))


def add(engine, kind, key, payload=None):
    """Enqueue one job."""
    with db.write(engine) as conn:
        return enqueue(conn, kind, key, payload or {}, priority=5)


def run_until(job_runner, predicate, timeout=5.0):
    """Step the runner until `predicate()`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        pause = job_runner.step()
        time.sleep(min(pause, 0.05))
    raise AssertionError("timed out")


def state(engine, job_id):
    """A job's state."""
    row = Outbox(engine).get(job_id)
    assert row is not None
    return row.state


def test_a_one_job_handler_gets_done_retry_after_and_failed(engine):
    """`register(kind, handler)`: Retry(after=0.3) waits that long; Failed is final; Done is final."""
    calls: list[tuple[str, float]] = []

    def handler(job, ctx):
        """Retry once, then done; the 'bad' job fails."""
        calls.append((job.key, time.time()))
        if job.key == "bad":
            return Failed("refused")
        return Retry("busy", after=0.3) if len([c for c in calls if c[0] == job.key]) == 1 else Done({"ok": 1})

    registry = JobRegistry()
    registry.endpoint("crm", [(10, 1.0)])
    registry.register("writeback.webhook", handler, endpoint="crm")
    jobs = runner(engine, registry)
    good, bad = add(engine, "writeback.webhook", "good"), add(engine, "writeback.webhook", "bad")
    run_until(jobs, lambda: state(engine, good) == DONE and state(engine, bad) == FAILED)
    good_calls = [at for key, at in calls if key == "good"]
    assert len(good_calls) == 2 and good_calls[1] - good_calls[0] >= 0.3
    row = Outbox(engine).get(good)
    assert row is not None and row.result == {"ok": 1} and row.attempts == 2


def test_a_handler_that_raises_becomes_a_poison_job(engine):
    """Each raise leaves the claim counted; past max_claims the job is failed, not retried forever."""
    registry = JobRegistry()
    registry.endpoint("crm", [(100, 1.0)])

    def boom(job, ctx):
        """A bug."""
        raise RuntimeError("bug in the handler")

    registry.register("writeback.hubspot", boom, endpoint="crm")
    jobs = runner(engine, registry)
    job_id = add(engine, "writeback.hubspot", "x")
    run_until(jobs, lambda: state(engine, job_id) == FAILED)
    row = Outbox(engine).get(job_id)
    assert row is not None and "poison" in (row.last_error or "")


def test_an_unknown_fate_is_looked_up_before_any_resend(engine):
    """Unknown → the lookup runs first: found → done without a second send; not found → sent again."""
    sent: list[str] = []
    landed: set[str] = set()

    def handler(job, ctx):
        """The first send of each job times out; 'lands' lands anyway."""
        sent.append(job.key)
        if sent.count(job.key) == 1:
            if job.key == "lands":
                landed.add(job.key)
            return Unknown("read timeout")
        return Done()

    registry = JobRegistry()
    registry.endpoint("crm", [(100, 1.0)])
    registry.register("writeback.salesforce", handler, endpoint="crm", lookup=lambda job, ctx: job.key in landed)
    jobs = runner(engine, registry)
    lands, lost = add(engine, "writeback.salesforce", "lands"), add(engine, "writeback.salesforce", "lost")
    run_until(jobs, lambda: state(engine, lands) == DONE and state(engine, lost) == DONE)
    assert sent.count("lands") == 1 and sent.count("lost") == 2


def test_an_outage_gates_the_endpoint_and_burns_no_attempt(engine):
    """Retry(outage=True): the job stays due, no attempt counted; the endpoint probes again soon."""
    answers: list[Outcome] = [Retry("503", outage=True), Retry("503", outage=True), Done()]
    registry = JobRegistry()
    registry.endpoint("crm", [(100, 1.0)])
    registry.register("writeback.webhook", lambda job, ctx: answers.pop(0), endpoint="crm")
    jobs = runner(engine, registry)
    job_id = add(engine, "writeback.webhook", "x")
    jobs.step()
    assert state(engine, job_id) == PENDING and jobs.endpoints["crm"].failures == 1
    run_until(jobs, lambda: state(engine, job_id) == DONE)
    row = Outbox(engine).get(job_id)
    assert row is not None and row.attempts == 1 and jobs.endpoints["crm"].failures == 0


def test_registering_needs_a_declared_endpoint():
    """A kind names its endpoint; an undeclared one is a clear error at registration."""
    registry = JobRegistry()
    with pytest.raises(ValueError, match="declare endpoint 'crm' first"):
        registry.register("writeback.webhook", lambda job, ctx: Done(), endpoint="crm")
