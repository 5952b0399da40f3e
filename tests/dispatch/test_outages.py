"""Outages and unknown fates, against the fake Engage on a real socket (SQLite and PostgreSQL).

Each test reproduces a way a lead used to die or be dialed twice, and counts leads at the fake."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter

import pytest

from dispatch.runner import Dispatcher
from dispatch.wakeup import Waker
from harness.processes import wait_for
from store.queue import Queue
from tests.dispatch.helpers import DISPATCH, backend_for, delivered, enqueue


class Run:
    """A dispatcher thread with its own Engage timeouts."""

    def __init__(self, engine, fake, cfg=None, read_timeout=0.9, holder=None):
        """Start it."""
        self.waker = Waker()
        self.stop_event = threading.Event()
        self.dispatcher = Dispatcher(
            engine,
            {**DISPATCH, "outage_probe_cap": 0.3, **(cfg or {})},
            backend_for(fake, read_timeout=read_timeout),
            self.waker,
            holder=holder,
        )
        self.thread = threading.Thread(target=self.dispatcher.run, args=(self.stop_event,), daemon=True)
        self.thread.start()

    def stop(self):
        """Graceful stop."""
        self.stop_event.set()
        self.waker.wake()
        self.thread.join(15)


@pytest.fixture
def run(engine, fake):
    """Factory for dispatchers; all stopped after the test."""
    started = []

    def start(**kw):
        """Start one dispatcher."""
        started.append(Run(engine, fake, **kw))
        return started[-1]

    yield start
    for one in started:
        one.stop()


def twice(fake):
    """Extern ids the fake loaded more than once."""
    return {k: n for k, n in Counter(delivered(fake)).items() if n > 1}


def test_outage_retries_never_kill_a_lead(engine, fake, run):
    """Reproduces the poison-cap bug: settled retries used to count as claims, so a lead needing a
    sixth try died `dead` long before its retry budget. Now 503s for many probes kill nothing."""
    fake.set_fault(force_status=503)
    enqueue(engine, 5)
    one = run(cfg={"max_claims": 2})
    wait_for(lambda: fake.stats()["loader_calls"] >= 8, 15, message="many failed probes")
    assert Queue(engine).counts().get("dead", 0) == 0
    fake.clear_faults()
    wait_for(lambda: Queue(engine).counts() == {"delivered": 5}, 10, message="all delivered after the outage")
    assert sorted(delivered(fake)) == [f"L{i}" for i in range(5)]
    assert one.thread.is_alive()


def test_claims_count_only_unsettled_claims(engine, fake, run):
    """A crash keeps its claim counted (poison); a proper retry gives it back."""
    fake.set_fault(force_status=503, force_status_count=3)
    enqueue(engine, 1)
    run()
    wait_for(lambda: Queue(engine).counts() == {"delivered": 1}, 10, message="delivered")
    assert Queue(engine).list()[0]["claims"] == 0


def test_outage_is_probed_one_call_at_a_time(engine, fake, run):
    """Both lanes have leads; during the outage at most one call is in flight and no lead dies."""
    fake.set_fault(force_status=503, latency=0.1)
    one = run(cfg={"normal_batch_delay": 0.0, "batch_size": 3})
    wait_for(lambda: one.dispatcher.backend is not None, 5, message="backend")
    client = one.dispatcher.backend.client
    original, inflight, peak, lock = client.load_leads, [0], [0], threading.Lock()

    def counting(*args, **kwargs):
        """Call through, counting concurrent calls."""
        with lock:
            inflight[0] += 1
            peak[0] = max(peak[0], inflight[0])
        try:
            return original(*args, **kwargs)
        finally:
            with lock:
                inflight[0] -= 1

    client.load_leads = counting
    enqueue(engine, 12, priority="IMMEDIATE")
    enqueue(engine, 12, priority="NORMAL", campaign="Inbound Leads", start=100)
    one.waker.wake()
    # Until the first failure comes back, each lane may have a call out (nobody knows yet).
    wait_for(lambda: one.dispatcher.outage_failures >= 1 and inflight[0] == 0, 10, message="outage known")
    peak[0], start = 0, fake.stats()["loader_calls"]
    wait_for(lambda: fake.stats()["loader_calls"] >= start + 6, 15, message="probes")
    assert peak[0] == 1, "an outage is probed by one call at a time"
    untouched = sum(1 for lead in Queue(engine).list(limit=100) if lead["attempts"] == 0)
    assert untouched >= 24 - 3 * fake.stats()["loader_calls"]
    fake.clear_faults()
    wait_for(lambda: Queue(engine).counts() == {"delivered": 24}, 20, message="all delivered")
    assert not twice(fake)


def test_both_lanes_probing_one_campaign_hold(engine, fake, run):
    """Reproduces the `del self.campaign_holds[campaign]` race: both lanes release the same due hold."""
    one = run()
    wait_for(lambda: one.dispatcher.lease.epoch is not None, 5, message="leadership")
    dispatcher, errors = one.dispatcher, []

    def probe(barrier):
        """Release due holds at the same moment as the other lane."""
        try:
            barrier.wait()
            dispatcher._probe_campaign_holds(time.time())
        except Exception as exc:  # the bug: KeyError in one of the lanes
            errors.append(exc)

    for _ in range(100):
        with dispatcher.lock:
            for i in range(20):
                dispatcher.campaign_holds[f"c{i}"] = 0.0
        barrier = threading.Barrier(2)
        threads = [threading.Thread(target=probe, args=(barrier,)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_timeout_after_loading_is_looked_up_not_resent(engine, fake, run):
    """The call lands, then the answer never comes (read timeout): the leads are found by leadSearch
    and settled delivered, not sent a second time."""
    run()
    enqueue(engine, 1)
    wait_for(lambda: len(delivered(fake)) == 1, 5, message="warm-up")
    fake.set_fault(hang=3.0, hang_after=True, hang_count=1)
    enqueue(engine, 4, start=1, together=True)  # one transaction: the running dispatcher claims all four at once
    wait_for(lambda: Queue(engine).counts().get("delivered") == 5, 15, message="all settled delivered")
    assert not twice(fake), "a lead Engage had was resent"
    assert fake.stats()["search_calls"] >= 1
    found = [lead for lead in Queue(engine).list() if (lead["engage_response"] or {}).get("found_by") == "leadSearch"]
    assert len(found) == 4
    assert len({lead["request_no"] for lead in fake.leads() if lead["extern_id"] != "L0"}) == 1, "one call of four"


def test_hung_call_loads_nothing_and_is_resent_once(engine, fake, run):
    """A call accepted and never answered loads nothing: the lookup finds nothing, the lead is resent once."""
    run()
    enqueue(engine, 1)
    wait_for(lambda: len(delivered(fake)) == 1, 5, message="warm-up")
    fake.set_fault(hang=5.0, hang_drop=True, hang_count=1)
    enqueue(engine, 3, start=1)
    wait_for(lambda: len(delivered(fake)) == 4, 15, message="all delivered")
    assert not twice(fake)
    # Engage has them before the dispatcher has read the answer: the settle follows the call.
    wait_for(lambda: Queue(engine).counts() == {"delivered": 4}, 5, message="settled delivered")


def test_unreadable_200_is_looked_up(engine, fake, run):
    """A 200 whose body cannot be read: Engage loaded the leads; the lookup settles them, no resend."""
    fake.set_fault(garbled_200=1)
    enqueue(engine, 3)
    run()
    wait_for(lambda: Queue(engine).counts() == {"delivered": 3}, 10, message="settled delivered")
    assert fake.stats()["garbled_answers"] == 1
    assert not twice(fake)


def test_lookup_refused_resends_and_counts_undecided(engine, fake, run):
    """leadSearch not allowed for this login: the leads are resent and counted as undecided."""
    one = run()
    enqueue(engine, 1)
    wait_for(lambda: len(delivered(fake)) == 1, 5, message="warm-up")
    fake.set_fault(hang=3.0, hang_after=True, hang_count=1, search_status=403)
    enqueue(engine, 2, start=1, together=True)  # one transaction: both leads are in the hung call
    wait_for(lambda: Queue(engine).counts().get("delivered") == 3, 15, message="delivered")
    assert one.dispatcher.fates.undecided == 2
    assert sum(twice(fake).values()) - len(twice(fake)) == 2  # the two undecided leads, counted


def test_token_endpoints_down_is_an_outage_not_a_hold(engine, fake, run):
    """RingCentral's token endpoints answer 503 while tokens expire: leads wait (never held, never dead)."""
    fake.set_fault(token_ttl=1.0)
    one = run()
    enqueue(engine, 1)
    wait_for(lambda: len(delivered(fake)) == 1, 5, message="warm-up")
    fake.set_fault(auth_status=503)
    fake.expire_tokens()
    enqueue(engine, 5, start=1)
    wait_for(lambda: fake.stats()["token_outage_answers"] >= 3, 10, message="token endpoints refused")
    counts = Queue(engine).counts()
    assert counts.get("held", 0) == 0 and counts.get("dead", 0) == 0 and not one.dispatcher.account_held
    fake.set_fault(auth_status=None)
    wait_for(lambda: Queue(engine).counts() == {"delivered": 6}, 15, message="all delivered")
    assert not twice(fake)


def test_refused_credentials_hold_with_alert_and_release_themselves(engine, fake, run, caplog):
    """invalid_client: leads held, an ALERT logged; once a token can be had again they flow, nobody acting."""
    caplog.set_level(logging.INFO, logger="leadrelay.dispatch")
    good = fake.client_secret
    fake.client_secret = "rotated"
    enqueue(engine, 3)
    run(cfg={"hold_probe": 0.3})
    wait_for(lambda: Queue(engine).counts().get("held") == 3, 10, message="held")
    assert any("ALERT" in r.getMessage() for r in caplog.records)
    fake.client_secret = good
    wait_for(lambda: Queue(engine).counts() == {"delivered": 3}, 15, message="released and delivered")


def test_slow_engage_keeps_the_lease_and_causes_no_resends(engine, fake, run):
    """Engage takes longer per call than the lease: no timeouts, no resends, the leader never changes."""
    fake.set_fault(latency=1.2)
    one = run(cfg={"lease_seconds": 0.8, "call_timeout": 5.0, "normal_batch_delay": 0.0}, read_timeout=5.0)
    wait_for(lambda: one.dispatcher.lease.epoch is not None, 10, message="leadership")
    epoch = one.dispatcher.lease.epoch
    for i in range(4):
        enqueue(engine, 1, start=i)
        enqueue(engine, 1, priority="NORMAL", campaign="Inbound Leads", start=100 + i)
        one.waker.wake()
        time.sleep(0.5)
    wait_for(lambda: Queue(engine).counts() == {"delivered": 8}, 30, message="all delivered")
    assert not twice(fake)
    assert one.dispatcher.lease.epoch == epoch, "the lease was lost while a slow call was in flight"
    assert fake.stats()["loader_calls"] == fake.stats()["loader_ok"]


def test_two_hour_outage_time_accelerated(engine, fake, run):
    """A 2-hour outage makes ~240 failed probes at the 30 s cap: here the same 240 probes at a 20 ms cap,
    with leads received two hours ago (the retry budget sees the real age). Every lead delivered, none dead."""
    fake.set_fault(force_status=503)
    enqueue(engine, 30, received_at=time.time() - 7200)
    enqueue(engine, 30, priority="NORMAL", campaign="Inbound Leads", start=100, received_at=time.time() - 7200)
    one = run(
        cfg={
            "outage_probe_cap": 0.02,
            "backoff_base": 0.01,
            "max_claims": 5,
            "normal_batch_delay": 0.0,
            "retry_budget": 24 * 3600.0,
            "rate_limit_10s": 100000,
            "rate_limit_60s": 100000,
            "batch_size": 10,
        }
    )
    wait_for(lambda: fake.stats()["loader_calls"] >= 240, 60, interval=0.2, message="240 failed probes")
    assert Queue(engine).counts().get("dead", 0) == 0
    fake.clear_faults()
    wait_for(lambda: Queue(engine).counts() == {"delivered": 60}, 20, message="all 60 delivered")
    assert not twice(fake) and one.thread.is_alive()


def test_waiting_leads_carry_their_reason_as_data(engine, fake, run):
    """An outage is written as status_reason `outage` (what the expedite selects), not only as error text."""
    fake.set_fault(force_status=503)
    enqueue(engine, 2)
    run()
    wait_for(
        lambda: any(r["status"] == "retrying" for r in Queue(engine).list()), 10, message="leads waiting for Engage"
    )
    retrying = [r for r in Queue(engine).list() if r["status"] == "retrying"]
    assert all(r["status_reason"] == "outage" and not r["unknown_fate"] for r in retrying), retrying
    assert all(r["last_error"].startswith("Engage unavailable: ") for r in retrying)  # still there, for people
    fake.clear_faults()
    wait_for(lambda: Queue(engine).counts() == {"delivered": 2}, 10, message="all delivered after the outage")
    assert all(r["status_reason"] is None and not r["unknown_fate"] for r in Queue(engine).list())
