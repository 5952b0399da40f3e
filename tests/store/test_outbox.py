"""The outbox on real SQLite and real PostgreSQL: enqueue, claim, settle, fencing, unknown fates.

Enqueue runs in the caller's transaction and is idempotent on key; claims go by priority, only as
leader; settles are fenced by the epoch; a dead leader's job comes back with its fate unknown.
"""

from __future__ import annotations

import time

import pytest

from store import db
from store.lease import Lease
from store.outbox import (
    DONE,
    ENGAGE_DNC_ADD,
    ENGAGE_LEAD_ACTION,
    FAILED,
    PENDING,
    PRIORITY_BULK,
    PRIORITY_LIVE,
    PRIORITY_WRITEBACK,
    JobRow,
    JobSettlement,
    Outbox,
    enqueue,
    unfinished_older_than,
)

KINDS = (ENGAGE_DNC_ADD, ENGAGE_LEAD_ACTION)


@pytest.fixture
def engine(db_url):
    """A migrated engine on a fresh database."""
    eng = db.make_engine(db_url)
    db.upgrade(eng)
    yield eng
    eng.dispose()


def add(engine, key, kind=ENGAGE_DNC_ADD, priority=PRIORITY_LIVE, payload=None, **kw):
    """Enqueue one job in its own transaction."""
    with db.write(engine) as conn:
        return enqueue(conn, kind, key, payload or {"phone": "+13035550142"}, priority=priority, **kw)


def row(outbox: Outbox, job_id: int) -> JobRow:
    """The stored job, which must exist."""
    found = outbox.get(job_id)
    assert found is not None
    return found


def leader(engine, name="a", ttl=30.0):
    """A lease held by `name`."""
    lease = Lease(engine, name, ttl=ttl)
    assert lease.acquire() is not None
    return lease


def test_enqueue_commits_and_rolls_back_with_the_callers_transaction(engine):
    """A job exists only if the transaction that enqueued it committed."""
    with pytest.raises(RuntimeError), db.write(engine) as conn:
        enqueue(conn, ENGAGE_DNC_ADD, "optout:1", {"phone": "+13035550142"})
        raise RuntimeError("the opt-out failed to store")
    outbox = Outbox(engine)
    assert outbox.by_key("optout:1") is None
    job_id = add(engine, "optout:1")
    stored = row(outbox, job_id)
    assert (stored.kind, stored.state, stored.attempts, stored.payload) == (
        ENGAGE_DNC_ADD,
        PENDING,
        0,
        {"phone": "+13035550142"},
    )


def test_enqueue_is_idempotent_on_the_key(engine):
    """The same key twice is one job (the first payload kept); another key is another job."""
    first = add(engine, "optout:7", payload={"phone": "+13035550001"})
    again = add(engine, "optout:7", payload={"phone": "+13035559999"})
    other = add(engine, "optout:8")
    outbox = Outbox(engine)
    assert first == again != other
    assert row(outbox, first).payload == {"phone": "+13035550001"}
    assert outbox.counts()[PENDING] == 2


def test_enqueue_refuses_an_oversized_key(engine):
    """A key longer than the column is a programming error, said at once (hash longer keys)."""
    with pytest.raises(ValueError, match="key"), db.write(engine) as conn:
        enqueue(conn, ENGAGE_DNC_ADD, "k" * 201, {})


def test_claims_go_by_priority_then_age_and_only_the_asked_kinds(engine):
    """A live opt-out enqueued after a bulk import is claimed first; other kinds are left alone."""
    bulk = add(engine, "bulk:1", priority=PRIORITY_BULK)
    wb = add(engine, "wb:1", kind="writeback.webhook", priority=PRIORITY_WRITEBACK)
    live_a = add(engine, "live:a")
    live_b = add(engine, "live:b", kind=ENGAGE_LEAD_ACTION)
    lease = leader(engine)
    outbox = Outbox(engine)
    assert outbox.due(KINDS, lease.epoch) and sum(n for _k, _p, n in outbox.due(KINDS, lease.epoch)) == 3
    claimed = outbox.claim(lease.epoch, "a", KINDS, limit=2, claim_ttl=30)
    assert [j.id for j in claimed] == [live_a, live_b]
    assert all(not j.unknown_fate and j.claims == 1 for j in claimed)
    assert [j.id for j in outbox.claim(lease.epoch, "a", KINDS, limit=5, claim_ttl=30)] == [bulk]
    assert row(outbox, wb).state == PENDING  # not a kind this runner asked for
    assert outbox.claim(lease.epoch, "a", KINDS, limit=5, claim_ttl=30) == []


def test_max_priority_leaves_bulk_jobs(engine):
    """A claim capped at a priority takes only the more urgent jobs."""
    add(engine, "bulk:1", priority=PRIORITY_BULK)
    live = add(engine, "live:1")
    lease = leader(engine)
    outbox = Outbox(engine)
    claimed = outbox.claim(lease.epoch, "a", KINDS, limit=5, claim_ttl=30, max_priority=PRIORITY_LIVE)
    assert [j.id for j in claimed] == [live]


def test_only_the_leader_claims(engine):
    """A process that does not hold the lease (or names a stale epoch) claims nothing."""
    add(engine, "live:1")
    lease = leader(engine, "a")
    outbox = Outbox(engine)
    assert outbox.claim(lease.epoch, "b", KINDS, limit=5, claim_ttl=30) == []
    assert outbox.claim(lease.epoch + 1, "a", KINDS, limit=5, claim_ttl=30) == []
    assert len(outbox.claim(lease.epoch, "a", KINDS, limit=5, claim_ttl=30)) == 1


def test_settle_done_is_final_and_retry_waits(engine):
    """Done: never claimed again, result kept. Pending with a delay: claimable only once due."""
    done_id, retry_id = add(engine, "live:1"), add(engine, "live:2")
    lease = leader(engine)
    outbox = Outbox(engine)
    outbox.claim(lease.epoch, "a", KINDS, limit=5, claim_ttl=30)
    written = outbox.settle(
        lease.epoch,
        [
            JobSettlement(done_id, DONE, result={"dncTagLabel": "GLOBAL"}),
            JobSettlement(retry_id, PENDING, delay=0.4, error="503 from Engage", count_attempt=False),
        ],
    )
    assert written == 2
    done, retry = row(outbox, done_id), row(outbox, retry_id)
    assert (done.state, done.attempts, done.claims, done.result) == (DONE, 1, 0, {"dncTagLabel": "GLOBAL"})
    assert done.done_at is not None
    assert (retry.state, retry.attempts, retry.last_error) == (PENDING, 0, "503 from Engage")
    assert outbox.claim(lease.epoch, "a", KINDS, limit=5, claim_ttl=30) == []
    due_in = outbox.next_due_in(KINDS)
    assert due_in is not None and 0 < due_in <= 0.4
    time.sleep(0.5)
    assert [j.id for j in outbox.claim(lease.epoch, "a", KINDS, limit=5, claim_ttl=30)] == [retry_id]


def test_failed_jobs_are_not_claimed_and_count_as_not_done(engine):
    """A failed job stays for people; the stuck query reports it with the pending ones."""
    job_id = add(engine, "live:1", now=1000.0)
    add(engine, "live:2", now=time.time())
    lease = leader(engine)
    outbox = Outbox(engine)
    outbox.claim(lease.epoch, "a", KINDS, limit=1, claim_ttl=30)
    outbox.settle(lease.epoch, [JobSettlement(job_id, FAILED, error="400: phone refused")])
    assert row(outbox, job_id).state == FAILED
    with engine.connect() as conn:
        stuck = unfinished_older_than(conn, KINDS, created_before=time.time() - 3600)
    assert [(i, k) for i, k, _ in stuck] == [(job_id, ENGAGE_DNC_ADD)]


def test_a_replaced_leader_settles_nothing_and_its_job_returns_with_unknown_fate(engine):
    """Leader A claims and dies mid-call; B takes over: A's settle is refused, B re-claims the job as
    one whose fate is unknown (it may have reached Engage)."""
    job_id = add(engine, "live:1")
    a = leader(engine, "a", ttl=0.3)
    outbox = Outbox(engine)
    epoch_a = a.epoch
    assert len(outbox.claim(epoch_a, "a", KINDS, limit=5, claim_ttl=30)) == 1
    time.sleep(0.5)
    b = leader(engine, "b", ttl=30)
    assert b.epoch > epoch_a
    assert outbox.settle(epoch_a, [JobSettlement(job_id, DONE)]) == 0
    [job] = outbox.claim(b.epoch, "b", KINDS, limit=5, claim_ttl=30)
    assert (job.id, job.unknown_fate, job.claims) == (job_id, True, 2)
    outbox.settle(b.epoch, [JobSettlement(job_id, DONE, result={"found": True})])
    stored = row(outbox, job_id)
    assert (stored.state, stored.claims, stored.unknown_fate) == (DONE, 1, False)


def test_an_expired_claim_is_taken_again_by_the_same_leader(engine):
    """A claim past its expiry (a wedged handler) is claimable again, fate unknown."""
    job_id = add(engine, "live:1")
    lease = leader(engine)
    outbox = Outbox(engine)
    outbox.claim(lease.epoch, "a", KINDS, limit=5, claim_ttl=0.2)
    assert outbox.claim(lease.epoch, "a", KINDS, limit=5, claim_ttl=30) == []
    time.sleep(0.3)
    [job] = outbox.claim(lease.epoch, "a", KINDS, limit=5, claim_ttl=30)
    assert job.id == job_id and job.unknown_fate


def test_unknown_fate_settles_pending_and_is_kept_for_the_next_claim(engine):
    """A handler's unknown fate (timeout) is stored, so the next claim looks it up first."""
    job_id = add(engine, "live:1")
    lease = leader(engine)
    outbox = Outbox(engine)
    outbox.claim(lease.epoch, "a", KINDS, limit=5, claim_ttl=30)
    outbox.settle(lease.epoch, [JobSettlement(job_id, PENDING, unknown_fate=True, error="read timeout")])
    [job] = outbox.claim(lease.epoch, "a", KINDS, limit=5, claim_ttl=30)
    assert job.unknown_fate and job.attempts == 1 and job.last_error == "read timeout"


def test_settle_refuses_a_sending_state(engine):
    """Settling is pending, done or failed; anything else is a programming error."""
    with pytest.raises(ValueError, match="settles"):
        Outbox(engine).settle(1, [JobSettlement(1, "sending")])
