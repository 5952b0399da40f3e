"""The dispatcher's lanes under the budget policy, against the fake Engage on a real socket (SQLite and
PostgreSQL): one step at a time, so nothing depends on timing."""

from __future__ import annotations

import time

from dispatch.runner import Dispatcher
from dispatch.wakeup import Waker
from tests.dispatch.helpers import DISPATCH, backend_for, delivered, enqueue


def leader(engine, fake, cfg=None) -> Dispatcher:
    """A dispatcher that holds the lease, its lanes not running (the test calls step)."""
    dispatcher = Dispatcher(engine, {**DISPATCH, **(cfg or {})}, backend_for(fake), Waker())
    assert dispatcher._become_leader()
    return dispatcher


def test_lone_hot_lead_is_sent_in_the_same_step_on_a_busy_window(engine, fake):
    """Reproduction: with a quarter of the 10-s window used by a hot stream (last call 50 ms ago), the
    old pacing returned ~0.5 s without sending; the budget sends a lone hot lead in the same step."""
    dispatcher = leader(engine, fake)
    dispatcher.limiter.preload([0.05 + 0.4 * k for k in range(10)])
    dispatcher.step("IMMEDIATE")  # first look: marks where arrivals are counted from
    enqueue(engine, 1)
    assert dispatcher.step("IMMEDIATE") == 0.0
    assert delivered(fake) == ["L0"]


def test_burst_backlog_leaves_in_full_batches(engine, fake):
    """120 hot leads stored in one go: the policy sees a burst and sends 50, 50, then the 20 left."""
    dispatcher = leader(engine, fake)
    dispatcher.step("IMMEDIATE")
    enqueue(engine, 120)
    sizes = []
    deadline = time.monotonic() + 10
    while len(delivered(fake)) < 120 and time.monotonic() < deadline:
        before = len(delivered(fake))
        pause = dispatcher.step("IMMEDIATE")
        if len(delivered(fake)) > before:
            sizes.append(len(delivered(fake)) - before)
        elif pause > 0:
            time.sleep(min(pause, 0.05))
    assert sizes == [50, 50, 20] and fake.stats()["loader_429"] == 0


def test_normal_waits_for_its_timer_in_the_step(engine, fake):
    """Ten NORMAL leads younger than normal_batch_delay: the step waits (no call) and says how long."""
    # A timer far longer than any stall of a loaded machine between storing and stepping (with 0.3 s,
    # ten commits on a busy host could age the leads past it, and the step rightly sent them).
    delay = 30.0
    dispatcher = leader(engine, fake, {"normal_batch_delay": delay})
    dispatcher.step("NORMAL")
    enqueue(engine, 10, priority="NORMAL", campaign="Inbound Leads")
    pause = dispatcher.step("NORMAL")
    assert 0 < pause <= DISPATCH["poll_interval"] and delivered(fake) == []
    plan = dispatcher.budget.plan("NORMAL")  # the wait the step came back from: the batch timer, not pacing
    assert plan.mode == "fill" and 0 < plan.wait <= delay
