"""The store on real SQLite and real PostgreSQL: atomic ingest, per-record dedupe, lease fencing, claims."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select

from store import db
from store.ingest import PendingLead, store_webhook
from store.lease import Lease, LeaseTokenStore, read
from store.queue import Queue, Settlement
from store.schema import events, leads


@pytest.fixture
def engine(db_url):
    """A migrated engine on a fresh database."""
    eng = db.make_engine(db_url)
    db.upgrade(eng)
    yield eng
    eng.dispose()


def pending(
    key,
    extern="e1",
    status="queued",
    priority="IMMEDIATE",
    campaign="Hot",
    phone="3035550142",
    expires=None,
    suppress=0.0,
    by_phone=False,
):
    """A PendingLead with sensible defaults."""
    return PendingLead(
        status=status,
        priority=priority,
        campaign=campaign,
        record_key=key,
        key_expires_at=expires,
        extern_id=extern,
        lead={"externId": extern, "leadPhone": phone},
        record={"id": extern},
        primary_phone=phone,
        load_options={"duplicateHandling": "REMOVE_FROM_LIST"},
        suppress_within=suppress,
        suppress_by_phone=by_phone,
    )


def store(engine, items, now=None, body=b"{}"):
    """Store one webhook."""
    return store_webhook(
        engine,
        source="src",
        received_at=now or time.time(),
        method="POST",
        path="/webhooks/src",
        content_type="application/json",
        headers={"X": "1"},
        body=body,
        remote_addr="127.0.0.1",
        event_status="accepted",
        reason=None,
        pending=items,
        sandbox=False,
    )


def test_upgrade_is_idempotent_and_concurrent(db_url):
    """Several processes (here threads with their own engines) migrating at once all succeed."""
    errors = []

    def run():
        """Migrate on a private engine."""
        try:
            eng = db.make_engine(db_url)
            db.upgrade(eng)
            eng.dispose()
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    eng = db.make_engine(db_url)
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(db.MIGRATIONS)).get_current_head()
    assert db.current_revision(eng) == head
    eng.dispose()


def test_event_and_leads_in_one_transaction(engine):
    """The raw body, headers and microsecond receive time are stored with the lead rows."""
    now = time.time()
    stored = store(engine, [pending("k:1"), pending("k:2", extern="e2", phone="3035550143")], now=now, body=b'{"a":1}')
    assert [o.status for o in stored.outcomes] == ["queued", "queued"]
    with engine.connect() as conn:
        event = conn.execute(select(events)).one()
        rows = conn.execute(select(leads)).all()
    assert event.body == b'{"a":1}' and abs(event.received_at - now) < 1e-5
    assert len(rows) == 2 and {r.event_id for r in rows} == {stored.event_id}


def test_duplicates_are_judged_per_record(engine):
    """A redelivery creates no second lead; a body mixing old and new records creates only the new."""
    first = store(engine, [pending("k:1")])
    again = store(engine, [pending("k:1")])
    assert again.all_duplicates and again.outcomes[0].duplicate_of_event == first.event_id
    mixed = store(engine, [pending("k:1"), pending("k:3", extern="e3", phone="3035550199")])
    assert [o.status for o in mixed.outcomes] == ["duplicate", "queued"]
    with engine.connect() as conn:
        assert conn.execute(select(leads.c.id)).all().__len__() == 2
        dup_event = conn.execute(select(events).where(events.c.id == again.event_id)).one()
    assert dup_event.status == "duplicate" and dup_event.duplicate_of == first.event_id


def test_hashed_keys_expire_after_the_window(engine):
    """A sender without ids: the same record dials again once its dedupe window has passed."""
    now = time.time()
    store(engine, [pending("h:abc", expires=now + 60)], now=now)
    assert store(engine, [pending("h:abc", expires=now + 90)], now=now + 30).all_duplicates
    later = store(engine, [pending("h:abc", expires=now + 200)], now=now + 120)
    assert later.outcomes[0].status == "queued"


def test_suppression_by_extern_id_and_phone(engine):
    """The same prospect for the same campaign within the window is `suppressed`, not dialed again."""
    first = store(engine, [pending("k:a", extern="x1", suppress=3600)])
    # Before the load the same record updates its pending lead (store/updates.py); once it is
    # loaded, it is suppressed.
    again = store(engine, [pending("k:a2", extern="x1", suppress=3600, phone="3035550143")])
    assert (again.outcomes[0].status, again.outcomes[0].lead_id) == ("queued", first.outcomes[0].lead_id)
    with db.write(engine) as conn:
        conn.execute(leads.update().where(leads.c.id == first.outcomes[0].lead_id).values(status="delivered"))
    second = store(engine, [pending("k:b", extern="x1", suppress=3600)])
    assert second.outcomes[0].status == "suppressed"
    other_campaign = store(engine, [pending("k:c", extern="x1", campaign="Other", suppress=3600)])
    assert other_campaign.outcomes[0].status == "queued"
    by_phone = store(engine, [pending("k:d", extern="x2", suppress=3600, by_phone=True, phone="3035550143")])
    assert by_phone.outcomes[0].status == "suppressed"
    off = store(engine, [pending("k:e", extern="x1", suppress=0)])
    assert off.outcomes[0].status == "queued"


def test_lease_single_leader_and_fencing(engine):
    """One holder at a time; a takeover bumps the epoch; the old leader can no longer claim or settle."""
    a, b = Lease(engine, "a", ttl=0.5), Lease(engine, "b", ttl=0.5)
    epoch_a = a.acquire()
    assert epoch_a is not None and b.acquire() is None
    store(engine, [pending("k:1")])
    queue = Queue(engine)
    claimed = queue.claim(epoch_a, "a", "IMMEDIATE", 10, claim_ttl=5)
    assert len(claimed) == 1
    time.sleep(0.7)  # a stops renewing: the lease lapses
    epoch_b = b.acquire()
    assert epoch_b == epoch_a + 1
    assert not a.renew()
    # The new leader re-claims the lead left `sending` by the old one.
    reclaimed = queue.claim(epoch_b, "b", "IMMEDIATE", 10, claim_ttl=5)
    assert [c.id for c in reclaimed] == [claimed[0].id]
    # The old leader's late settle is fenced out.
    assert queue.settle(epoch_a, [Settlement(claimed[0].id, "delivered")]) == 0
    assert queue.settle(epoch_b, [Settlement(claimed[0].id, "delivered")]) == 1
    assert queue.counts() == {"delivered": 1}
    assert queue.claim(epoch_a, "a", "IMMEDIATE", 10, claim_ttl=5) == []


def test_release_lets_a_standby_start_at_once(engine):
    """A graceful release frees the lease without waiting for it to expire."""
    a, b = Lease(engine, "a", ttl=60), Lease(engine, "b", ttl=60)
    a.acquire()
    a.release()
    assert b.acquire() is not None
    assert read(engine).holder == "b"


def test_concurrent_acquire_elects_one(engine):
    """Many candidates racing for a free lease: exactly one wins."""
    winners = []
    barrier = threading.Barrier(6)

    def race(name):
        """Try to acquire once."""
        lease = Lease(engine, name, ttl=30)
        barrier.wait()
        if lease.acquire() is not None:
            winners.append(name)

    threads = [threading.Thread(target=race, args=(f"c{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1


def test_claim_order_lanes_and_retry_schedule(engine):
    """Oldest first within a lane; a retrying lead waits for its time; held campaigns are skipped."""
    store(
        engine,
        [
            pending("k:1", extern="a"),
            pending("k:2", extern="b", priority="NORMAL"),
            pending("k:3", extern="c", campaign="Held"),
        ],
    )
    lease = Lease(engine, "me", ttl=30)
    epoch = lease.acquire()
    assert epoch is not None
    queue = Queue(engine)
    hot = queue.claim(epoch, "me", "IMMEDIATE", 10, claim_ttl=30, exclude_campaigns=["Held"])
    assert [c.extern_id for c in hot] == ["a"]
    queue.settle(epoch, [Settlement(hot[0].id, "retrying", error="503", delay=30)])
    assert queue.claim(epoch, "me", "IMMEDIATE", 10, claim_ttl=30, exclude_campaigns=["Held"]) == []
    assert [c.extern_id for c in queue.claim(epoch, "me", "NORMAL", 10, claim_ttl=30)] == ["b"]
    lead = queue.get(hot[0].id)
    assert lead is not None
    assert lead["status"] == "retrying" and lead["attempts"] == 1 and lead["last_error"] == "503"


def test_hold_release_and_replay(engine):
    """Held leads burn no attempts and flow again on release; dead/rejected leads replay by filter."""
    store(engine, [pending("k:1", extern="a"), pending("k:2", extern="b", phone="3035550100")])
    lease = Lease(engine, "me", ttl=30)
    epoch = lease.acquire()
    assert epoch is not None
    queue = Queue(engine)
    assert queue.hold_queued("Hot", "breaker open") == 2
    assert queue.claim(epoch, "me", "IMMEDIATE", 10, claim_ttl=30) == []
    assert queue.release_held("Hot") == 2
    claimed = queue.claim(epoch, "me", "IMMEDIATE", 10, claim_ttl=30)
    queue.settle(
        epoch, [Settlement(claimed[0].id, "dead", error="x"), Settlement(claimed[1].id, "rejected", error="y")]
    )
    assert sorted(queue.replay(status="dead")) == [claimed[0].id]
    assert queue.replay(ids=[claimed[1].id]) == [claimed[1].id]
    assert queue.counts() == {"queued": 2}


def test_token_lives_with_the_lease(engine):
    """The Engage token is stored in the lease row and only the current leader may write it."""
    a = Lease(engine, "a", ttl=30)
    a.acquire()
    tokens = LeaseTokenStore(engine, a, decode=lambda d: d, encode=lambda s: s)
    tokens.save({"access_token": "t1"})
    assert tokens.load() == {"access_token": "t1"}
    a.release()
    tokens.save({"access_token": "t2"})  # no longer leader: ignored
    assert tokens.load() == {"access_token": "t1"}
