"""A lead outside its window waits (deferred) and is loaded at the opening; hot leads still go first.

Injected clocks on the gates, the real queue (claim, settle) on SQLite and PostgreSQL. The night is
in the past so the database clock (which the claim uses) is already past the opening.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from compliance.gates import Action, Gate, GateSettings
from dispatch.batching import call_options
from dispatch.gating import Gatekeeper
from lead.lifecycle import LeadStatus
from store import db
from store.ingest import PendingLead, store_webhook
from store.lease import Lease
from store.queue import Queue

ET = ZoneInfo("America/New_York")
NIGHT = dt.datetime(2026, 12, 1, 22, 0, tzinfo=ET).timestamp()
OPENING = dt.datetime(2026, 12, 2, 8, 0, tzinfo=ET).timestamp()


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def engine(db_url):
    eng = db.make_engine(db_url)
    db.upgrade(eng)
    yield eng
    eng.dispose()


def store(engine, extern: str, priority: str, received_at: float, n: int = 0) -> None:
    store_webhook(
        engine, source="web", received_at=received_at, method="POST", path="/", content_type="application/json",
        headers={}, body=b"{}", remote_addr="", event_status="accepted", reason=None, sandbox=False,
        pending=[PendingLead(status="queued", priority=priority, campaign="Sales", record_key=f"k:{extern}",
                             key_expires_at=None, extern_id=extern,
                             lead={"externId": extern, "leadPhone": f"21255501{n:02d}"})],
    )  # fmt: skip


def test_overnight_hot_leads_go_first_at_the_opening_and_stay_hot(engine):
    for i, (extern, priority) in enumerate(
        [("N1", "NORMAL"), ("H1", "IMMEDIATE"), ("N2", "NORMAL"), ("H2", "IMMEDIATE")]
    ):
        store(engine, extern, priority, NIGHT + i * 60, i)
    lease = Lease(engine, "t", ttl=30)
    epoch = lease.acquire()
    assert epoch is not None
    queue = Queue(engine)
    clock = Clock(NIGHT + 600)
    keeper = Gatekeeper(engine, lambda source: GateSettings(), None, clock=clock)
    # The night: every lead is claimed, refused by the window and settled deferred until 08:00.
    for lane in ("IMMEDIATE", "NORMAL"):
        claimed = queue.claim(epoch, "t", lane, 10, claim_ttl=30)
        send, settle = keeper.settlements(keeper.screen(claimed))
        assert send == [] and {s.status for s in settle} == {LeadStatus.DEFERRED}
        assert all("calling_window: federal 08:00-21:00" in (s.error or "") for s in settle)
        queue.settle(epoch, settle)
    # Settled with delays from the host clock; the window's opening is what the gate recorded.
    screened = keeper.screen(queue.claim(epoch, "t", "IMMEDIATE", 10, claim_ttl=30))
    assert screened == []  # nothing dispatchable while deferred
    assert keeper.release_due() == 4  # a new leader's first look releases every deferred lead to re-check
    clock.now = OPENING + 30
    hot = queue.claim(epoch, "t", "IMMEDIATE", 10, claim_ttl=30)
    assert [c.extern_id for c in hot] == ["H1", "H2"]  # the hot lane, oldest first
    results = keeper.screen(hot)
    assert all(r.result.action is Action.LOAD for r in results)


def test_release_sets_the_clock_to_the_opening(engine):
    store(engine, "H1", "IMMEDIATE", NIGHT)
    lease = Lease(engine, "t", ttl=30)
    epoch = lease.acquire()
    assert epoch is not None
    queue = Queue(engine)
    clock = Clock(NIGHT + 60)
    keeper = Gatekeeper(engine, lambda source: GateSettings(), None, clock=clock)
    keeper.release_due()  # the start-up release (nothing deferred yet)
    [lead] = queue.claim(epoch, "t", "IMMEDIATE", 10, claim_ttl=30)
    [screened] = keeper.screen([lead])
    assert screened.result.gate is Gate.CALLING_WINDOW and screened.result.next_attempt_at == OPENING
    _, settle = keeper.settlements([screened])
    queue.settle(epoch, settle)
    with db.write(engine) as conn:  # the settle's delay is from the host clock: pin the opening itself
        conn.exec_driver_sql(f"UPDATE leads SET next_attempt_at={OPENING} WHERE id={lead.id}")
    clock.now = OPENING - 1
    assert keeper.release_due() == 0  # not yet: the gate knows its next opening
    clock.now = OPENING + 5
    assert keeper.release_due() == 1
    [again] = queue.claim(epoch, "t", "IMMEDIATE", 10, claim_ttl=30)
    assert keeper.screen([again])[0].result.action is Action.LOAD
    assert again.clock_from == OPENING and again.clock == OPENING
    # 10 hours after receipt but 1 minute after the opening: still an IMMEDIATE load, not NORMAL.
    assert call_options(again, immediate_max_age=900, now=OPENING + 60).dial_priority == "IMMEDIATE"
    again.clock_from = None
    assert call_options(again, immediate_max_age=900, now=OPENING + 60).dial_priority != "IMMEDIATE"
