"""Random operation sequences against the real queue: every status change is in lead/lifecycle.py's TRANSITIONS.

Claims, settlements with every outcome the dispatcher writes, holds, releases (the dispatcher's and the
operator's), replays, the outage expedite, retention purges and crashes (the leader dies holding its
claims; a new one takes the lease) run on SQLite and PostgreSQL; after each step the statuses, reasons
and personal data are read back and checked.
"""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from lead.lifecycle import PURGEABLE, REASONS, LeadReason, LeadStatus, can_transition
from store import db, operator, retention
from store.ingest import PendingLead, store_webhook
from store.lease import Lease
from store.queue import Queue, Settlement

S = LeadStatus
LEADS = 4
CAMPAIGNS = ("Hot", "Cold")
# What the dispatcher settles a claimed lead with (dispatch/sender.py, dispatch/lanes.py), by kind.
_RETRIES = sorted(REASONS[S.RETRYING])
OUTCOMES: list[list[Settlement]] = [
    [Settlement(0, S.DELIVERED)],
    [Settlement(0, S.REJECTED, error="row rejected")],
    [Settlement(0, S.DEAD, error="retry budget spent"), Settlement(0, S.DEAD, error="poison lead")],
    [
        Settlement(0, S.HELD, error="campaign breaker open", count_attempt=False, reason=LeadReason.CAMPAIGN_HOLD),
        Settlement(0, S.HELD, error="authentication failed", count_attempt=False, reason=LeadReason.ACCOUNT_HOLD),
    ],
    [Settlement(0, S.QUEUED, error="crash", crashed=True, reason=LeadReason.CRASH_RECOVERY, unknown_fate=True)],
    [
        Settlement(0, S.RETRYING, error=str(reason), reason=reason, unknown_fate=unknown)
        for reason in _RETRIES
        for unknown in (False, True)
    ],
]
CLAIM = st.tuples(st.just("claim"), st.sampled_from(["IMMEDIATE", "NORMAL"]), st.integers(1, LEADS))
# Each claimed lead's outcome: a kind, then one of its variants (so each kind is as likely as another).
SETTLE = st.tuples(
    st.just("settle"),
    st.lists(
        st.tuples(st.integers(0, len(OUTCOMES) - 1), st.integers(0, 2 * len(_RETRIES))), min_size=1, max_size=LEADS
    ),
)
# Claims and settlements twice as likely as the rest: they are what most other steps need first.
OPS = st.one_of(
    CLAIM,
    CLAIM,
    SETTLE,
    SETTLE,
    st.tuples(st.just("hold"), st.sampled_from([None, *CAMPAIGNS])),
    st.tuples(st.just("release"), st.sampled_from([None, *CAMPAIGNS])),
    st.tuples(st.just("operator_release"), st.sampled_from(["account", *(f"campaign:{c}" for c in CAMPAIGNS)])),
    st.tuples(st.just("replay"), st.sampled_from([None, "dead", "rejected", "held", "blocked", "delivered"])),
    st.tuples(st.just("expedite")),
    st.tuples(st.just("purge")),
    st.tuples(st.just("crash")),
)


def _pending(i: int) -> PendingLead:
    """One stored record: lanes and campaigns alternate so holds and claims pick some, not all."""
    return PendingLead(
        status=S.QUEUED,
        priority="IMMEDIATE" if i % 2 else "NORMAL",
        campaign=CAMPAIGNS[i % 2],
        record_key=f"k:{i}:{time.monotonic_ns()}",
        key_expires_at=None,
        extern_id=f"e{i}",
        lead={"externId": f"e{i}", "leadPhone": "3035550142"},
        record={"phone": "3035550142"},
        primary_phone="3035550142",
    )


class Run:
    """One sequence: fresh leads, a leader, and what was last seen of each lead."""

    def __init__(self, engine) -> None:
        self.engine, self.queue = engine, Queue(engine)
        with db.write(engine) as conn:
            conn.execute(text("DELETE FROM leads"))
            conn.execute(text("UPDATE dispatcher_lease SET holder=NULL, expires_at=0"))
        stored = store_webhook(
            engine,
            source="src",
            received_at=time.time(),
            method="POST",
            path="/webhooks/src",
            content_type="application/json",
            headers={},
            body=b"{}",
            remote_addr="127.0.0.1",
            event_status="accepted",
            reason=None,
            pending=[_pending(i) for i in range(LEADS)],
            sandbox=False,
        )
        self.ids = [o.lead_id for o in stored.outcomes if o.lead_id is not None]
        assert len(self.ids) == LEADS
        self.leaders = 0
        self.epoch = self._new_leader()
        self.seen: dict[int, str | None] = dict.fromkeys(self.ids)  # None: no row before intake
        self.check("intake")

    def _new_leader(self) -> int:
        """A new dispatcher takes the lease (the old one's lapsed): a higher epoch."""
        self.leaders += 1
        self.holder = f"leader-{self.leaders}"
        epoch = Lease(self.engine, self.holder, ttl=60).acquire()
        assert epoch is not None
        return epoch

    def rows(self) -> dict[int, dict]:
        """Each lead's status, reason, unknown flag and whether its personal data is still there."""
        with self.engine.connect() as conn:
            found = conn.execute(
                text("SELECT id, status, status_reason, unknown_fate, lead, claim_epoch FROM leads")
            ).fetchall()
        return {
            r.id: {"status": r.status, "reason": r.status_reason, "unknown": bool(r.unknown_fate), "data": r.lead}
            | {"epoch": r.claim_epoch}
            for r in found
        }

    def check(self, step: str) -> dict[int, dict]:
        """Every change since the last step is a legal transition; every reason fits its status."""
        now = self.rows()
        for lead_id, before in self.seen.items():
            after = now[lead_id]["status"]
            if after != before:
                assert can_transition(before, after), f"{step}: lead {lead_id} went {before} → {after}"
            reason = now[lead_id]["reason"]
            if reason is not None:
                assert LeadReason(reason) in REASONS.get(LeadStatus(after), frozenset()), (step, after, reason)
            self.seen[lead_id] = after
        return now

    def apply(self, op: tuple) -> None:
        """Run one operation as the service would, then check what changed."""
        kind = op[0]
        if kind == "claim":
            self.queue.claim(self.epoch, self.holder, op[1], op[2], claim_ttl=60)
        elif kind == "settle":
            # The current leader settles what it holds, oldest first, each by the next chosen outcome.
            held = sorted(
                i for i, row in self.rows().items() if row["status"] == S.SENDING and row["epoch"] == self.epoch
            )
            chosen = [OUTCOMES[kind][variant % len(OUTCOMES[kind])] for kind, variant in op[1]]
            self.queue.settle(
                self.epoch,
                [Settlement(**(vars(template) | {"id": i})) for i, template in zip(held, chosen, strict=False)],
            )
        elif kind == "hold":
            self.queue.hold_queued(op[1], "held by the test")
        elif kind == "release":
            self.queue.release_held(op[1])
        elif kind == "operator_release":
            operator.release_held(self.engine, op[1])
        elif kind == "replay":
            self.queue.replay(status=op[1]) if op[1] else self.queue.replay(ids=self.ids)
        elif kind == "expedite":
            self.queue.expedite(LeadReason.OUTAGE)
        elif kind == "purge":
            before = self.rows()
            retention.purge(self.engine, retention_days=0, now=time.time() + 10)
            after = self.rows()
            for lead_id, row in after.items():
                erased = before[lead_id]["data"] is not None and row["data"] is None
                assert not erased or LeadStatus(row["status"]) in PURGEABLE, (row, "a waiting lead lost its data")
                assert row["status"] == before[lead_id]["status"], "purge changed a status"
        elif kind == "crash":
            # The leader dies holding whatever it claimed: its lease lapses, a new leader takes over.
            with db.write(self.engine) as conn:
                conn.execute(text("UPDATE dispatcher_lease SET expires_at=0"))
            self.epoch = self._new_leader()
        self.check(json.dumps(op))


@pytest.fixture
def engine(db_url):
    """A migrated engine on a fresh database, shared by every example of one test run."""
    eng = db.make_engine(db_url)
    db.upgrade(eng)
    yield eng
    eng.dispose()


@settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(OPS, min_size=8, max_size=24))
def test_every_status_change_is_a_legal_transition(engine, ops):
    run = Run(engine)
    for op in ops:
        run.apply(op)


def test_the_check_catches_an_illegal_change(sqlite_url):
    """Guards the property itself: a delivered lead put back in the queue by hand is refused."""
    engine = db.make_engine(sqlite_url)
    db.upgrade(engine)
    try:
        run = Run(engine)
        run.apply(("claim", "IMMEDIATE", LEADS))
        run.apply(("claim", "NORMAL", LEADS))
        run.apply(("settle", [(0, 0)] * LEADS))  # delivered
        with db.write(engine) as conn:
            conn.execute(text("UPDATE leads SET status='queued' WHERE status='delivered'"))
        with pytest.raises(AssertionError, match="went delivered → queued"):
            run.check("by hand")
    finally:
        engine.dispose()
