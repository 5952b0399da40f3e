"""The dispatcher against the fake Engage on a real socket, on SQLite and PostgreSQL.

Every failure path counts leads at the far end (the fake's accepted leads)."""

from __future__ import annotations

import time

from harness.processes import wait_for
from store.queue import Queue
from tests.dispatch.helpers import DISPATCH, delivered, enqueue, pending_lead, store_leads


def test_immediate_lead_goes_out_alone_at_once(engine, fake, running):
    """Quiet queue: one IMMEDIATE lead, one call, dialPriority IMMEDIATE, settled delivered."""
    run = running()
    wait_for(lambda: run.dispatcher.lease.epoch is not None, 5, message="leadership")
    enqueue(engine, 1)
    run.waker.wake()
    wait_for(lambda: delivered(fake) == ["L0"], 5, message="delivery")
    lead = fake.leads()[0]
    assert lead["dial_priority"] == "IMMEDIATE" and lead["campaign_id"] == fake.campaign_id("Hot Inbound")
    wait_for(lambda: Queue(engine).counts() == {"delivered": 1}, 5, message="settled")


def test_backlog_is_coalesced_into_batches(engine, fake, running):
    """120 waiting leads go out in 3 calls (50/50/20), none twice, zero 429s."""
    enqueue(engine, 120)
    running()
    wait_for(lambda: len(delivered(fake)) >= 120, 10, message="120 delivered")
    assert sorted(delivered(fake)) == sorted(f"L{i}" for i in range(120))
    stats = fake.stats()
    assert stats["loader_calls"] == 3 and stats["max_batch"] == 50 and stats["loader_429"] == 0


def test_rejected_row_does_not_fail_its_batch_mates(engine, fake, running):
    """rejectedRows settle per lead by externId."""
    fake.set_fault(reject_extern_ids=["L3"])
    enqueue(engine, 10)
    running()
    wait_for(lambda: Queue(engine).counts().get("delivered") == 9, 10, message="9 delivered")
    assert Queue(engine).counts() == {"delivered": 9, "rejected": 1}
    rejected = Queue(engine).list(status="rejected")[0]
    assert rejected["extern_id"] == "L3" and rejected["last_error"]


def test_whole_batch_400_is_split(engine, fake, running):
    """A 400 for the call splits the batch until the bad lead stands alone."""
    fake.set_fault(bad_batch_extern_ids=["L5"])
    enqueue(engine, 8)
    running()
    wait_for(lambda: Queue(engine).counts().get("delivered") == 7, 10, message="7 delivered")
    wait_for(lambda: Queue(engine).counts() == {"delivered": 7, "rejected": 1}, 5, message="L5 rejected")
    assert sorted(delivered(fake)) == sorted(f"L{i}" for i in range(8) if i != 5)


def test_5xx_then_recovery(engine, fake, running):
    """503s: leads retry with backoff, nothing dropped, all delivered once Engage recovers."""
    fake.set_fault(force_status=503)
    enqueue(engine, 5)
    running()
    wait_for(lambda: Queue(engine).counts().get("retrying") == 5, 5, message="retrying")
    fake.clear_faults()
    wait_for(lambda: len(delivered(fake)) == 5, 10, message="delivered after recovery")
    # Engage has them before the dispatcher has read the answer: the settle follows the call.
    wait_for(lambda: Queue(engine).counts() == {"delivered": 5}, 5, message="settled delivered")


def test_engage_down_connection_refused(engine, fake, running):
    """Engage's port closed: leads wait; when it comes back on the same port they drain, none lost."""
    run = running()
    wait_for(lambda: run.dispatcher.lease.epoch is not None, 5, message="leadership")
    enqueue(engine, 1)
    wait_for(lambda: len(delivered(fake)) == 1, 5, message="first delivery (warm token)")
    fake.server.stop()
    enqueue(engine, 20, start=1)
    run.waker.wake()
    wait_for(lambda: Queue(engine).counts().get("retrying", 0) >= 1, 5, message="retrying while down")
    fake.server.start()
    wait_for(lambda: len(delivered(fake)) == 21, 15, message="21 delivered")
    assert sorted(delivered(fake)) == sorted(f"L{i}" for i in range(21))


def test_429_is_honoured(engine, fake, running):
    """A 429 with Retry-After pauses sending; the leads are delivered afterwards."""
    fake.set_fault(force_status=429, force_status_count=1, retry_after="1")
    enqueue(engine, 1)
    started = time.time()
    running()
    wait_for(lambda: len(delivered(fake)) == 1, 10, message="delivered after 429")
    assert time.time() - started >= 0.9


def test_campaign_breaker_holds_one_campaign_only(engine, fake, running):
    """A 404 campaign: its leads are held; the other campaign keeps flowing; they flow again when fixed."""
    hot = fake.campaign_id("Hot Inbound")
    fake.set_fault(campaign_status={str(hot): 404})
    enqueue(engine, 3, campaign="Hot Inbound")
    enqueue(engine, 3, campaign="Inbound Leads", start=10)
    running(cfg={"hold_probe": 0.5})
    wait_for(lambda: sorted(delivered(fake)) == ["L10", "L11", "L12"], 10, message="other campaign flows")
    wait_for(lambda: Queue(engine).counts().get("held", 0) >= 1, 5, message="hot leads held")
    fake.clear_faults()
    wait_for(lambda: len(delivered(fake)) == 6, 15, message="held leads flow after the probe")


def test_auth_failure_holds_without_burning_attempts(engine, fake, running):
    """Bad credentials: every lead held (no attempts), then delivered once credentials work again."""
    good_secret = fake.client_secret
    fake.client_secret = "rotated"
    enqueue(engine, 2)
    run = running(cfg={"hold_probe": 0.5})
    wait_for(lambda: Queue(engine).counts().get("held") == 2, 5, message="held")
    assert all(lead["attempts"] == 0 for lead in Queue(engine).list())
    assert run.dispatcher.state == "held"
    fake.client_secret = good_secret
    wait_for(lambda: len(delivered(fake)) == 2, 15, message="delivered after credentials fixed")


def test_normal_leads_wait_for_the_batch_timer(engine, fake, running):
    """NORMAL leads are batched on a short timer; IMMEDIATE goes first and alone."""
    run = running(cfg={"normal_batch_delay": 0.8})
    wait_for(lambda: run.dispatcher.lease.epoch is not None, 5, message="leadership")
    # One transaction: the NORMAL lane sees all five at once (one webhook each, a slow host could let the
    # timer of the first run out before the fifth was stored) and the hot lead arrives with them.
    normal = [pending_lead(i, "NORMAL", "Inbound Leads") for i in range(5)]
    store_leads(engine, [*normal, pending_lead(100)])
    run.waker.wake()
    wait_for(lambda: "L100" in delivered(fake), 5, message="immediate first")
    assert delivered(fake) == ["L100"]
    wait_for(lambda: len(delivered(fake)) == 6, 5, message="normal batch")
    normal_requests = {lead["request_no"] for lead in fake.leads() if lead["dial_priority"] == "NORMAL"}
    assert len(normal_requests) == 1


def test_stale_immediate_loads_as_normal(engine, fake, running):
    """An IMMEDIATE lead older than immediate_max_age must not jump the dialer queue."""
    enqueue(engine, 1, received_at=time.time() - 3600)
    running()
    wait_for(lambda: len(delivered(fake)) == 1, 5, message="delivered")
    assert fake.leads()[0]["dial_priority"] == "NORMAL"


def test_no_two_equal_phones_in_one_call(engine, fake, running):
    """Leads sharing a phone go in separate calls (Engage dedupes a list by phone)."""
    enqueue(engine, 3, phone="3035550100")
    running()
    wait_for(lambda: len(delivered(fake)) == 3, 10, message="3 delivered")
    assert len({lead["request_no"] for lead in fake.leads()}) == 3


def test_standby_takes_over_when_the_leader_dies(engine, fake, running):
    """Two dispatchers: one leads; when it stops renewing (simulated crash) the standby takes over."""
    first = running(holder="first")
    wait_for(lambda: first.dispatcher.lease.epoch is not None, 5, message="first leads")
    second = running(holder="second")
    time.sleep(0.5)
    assert second.dispatcher.lease.epoch is None
    # Simulate kill -9: the thread stops without releasing the lease.
    first.dispatcher.lease.release = lambda: None
    first.stop()
    enqueue(engine, 5)
    started = time.time()
    wait_for(lambda: len(delivered(fake)) == 5, 10, message="standby delivers")
    assert second.dispatcher.lease.epoch is not None
    assert time.time() - started < 2 * DISPATCH["lease_seconds"] + 1


def test_graceful_stop_releases_the_lease(engine, fake, running):
    """After a graceful stop the standby starts at once, not after the lease expires."""
    first = running(holder="first", cfg={"lease_seconds": 30.0})
    wait_for(lambda: first.dispatcher.lease.epoch is not None, 5, message="first leads")
    second = running(holder="second", cfg={"lease_seconds": 30.0, "poll_interval": 0.1})
    first.stop()
    wait_for(lambda: second.dispatcher.lease.epoch is not None, 3, message="standby takes over at once")


def test_poison_lead_goes_dead_after_max_claims(engine, fake, running):
    """A lead that crashes the sender every time is `dead` after max_claims, not looped forever."""
    run = running(cfg={"max_claims": 2, "backoff_base": 0.01, "backoff_cap": 0.02})
    wait_for(lambda: run.dispatcher.backend is not None, 5, message="backend")
    run.dispatcher.backend.client.load_leads = lambda *a, **k: (_ for _ in ()).throw(RuntimeError("boom"))
    enqueue(engine, 1)
    run.waker.wake()
    wait_for(lambda: Queue(engine).counts() == {"dead": 1}, 10, message="poison lead dead")
