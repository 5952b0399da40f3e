"""The lanes: one thread per priority, each asking the budget policy when to claim and send its next batch."""

from __future__ import annotations

import logging
import time
from typing import ClassVar

from dispatch.batching import group
from dispatch.budget import Plan
from dispatch.core import DispatcherCore
from lead.lifecycle import LeadStatus
from logs import log
from store.queue import ClaimedLead, Settlement

logger = logging.getLogger("leadrelay.dispatch")


class Lanes(DispatcherCore):
    """IMMEDIATE and NORMAL send independently; IMMEDIATE never waits behind a NORMAL call."""

    # While a lane waits to share a call, new leads re-open the question at most this often: a flood's
    # every webhook must not cost the lane two queries (the request threads share the process).
    RECHECK: ClassVar[dict[str, float]] = {"IMMEDIATE": 0.01, "NORMAL": 0.05}

    def _lane_loop(self, lane: str) -> None:
        """Send this lane's leads while leader; never let one bad iteration kill the lane."""
        event = self.lane_events[lane]
        failures = 0
        while not self.lanes_stop.is_set():
            try:
                pause = self.step(lane) if self.lease.epoch is not None else self.cfg["poll_interval"]
                failures = 0
            except Exception as exc:  # database down, a bug: log, back off a little, carry on
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    log(
                        logger,
                        logging.ERROR,
                        "dispatch step failed",
                        lane=lane,
                        error=repr(exc)[:300],
                        failures=failures,
                    )
                pause = min(2.0, 0.25 * failures)
            finally:
                self.busy_since[lane] = None
            if pause > 0:
                event.wait(pause)
                event.clear()

    def step(self, lane: str = "IMMEDIATE") -> float:
        """Send one batch of `lane` if one is due; return how long to idle (0: go again at once)."""
        epoch = self.lease.epoch
        poll = float(self.cfg["poll_interval"])
        if epoch is None:
            return poll
        if self.outcomes and not self.outcomes.flush():
            return poll
        now = time.time()
        if self.holds.account_held:
            return poll
        gate = self.holds.outage_until
        if now < gate:
            return min(gate - now, poll)
        self._probe_campaign_holds(now)
        probing = False
        if self.holds.outage_failures:
            # Engage is down: one call at a time probes it; the other lane claims nothing meanwhile.
            if not self.holds.probe_lock.acquire(blocking=False):
                return min(0.25, poll)
            probing = True
        try:
            return self._step(lane, epoch)
        finally:
            if probing:
                self.holds.probe_lock.release()

    def _step(self, lane: str, epoch: int) -> float:
        """The body of `step` once the gates let this lane go: the budget policy, then claim and send."""
        if self.gates is not None and self.gates.release_due():
            self.recheck_at[lane] = 0.0  # deferred leads are due now: claim them at once
        hold = self.recheck_at[lane] - time.monotonic()
        if hold > 0:
            return hold
        # The budget policy decides from the lane's queue and arrivals (dispatch/budget.py). While hot
        # leads are sparse they go at once, and the claim itself counts them: no query before the call.
        counted_by_claim = self.arrival_marks[lane] is not None and self.budget.eager(lane)
        plan = Plan(0.0, 0.0, "eager") if counted_by_claim or self._observe(lane) else self.budget.plan(lane)
        if plan.mode == "idle":
            return float(self.cfg["poll_interval"])
        if plan.wait > 0:
            # While we wait, more leads arrive and join the next (bigger) batch; a new lead wakes us.
            self.recheck_at[lane] = time.monotonic() + min(plan.wait, self.RECHECK[lane])
            return float(min(plan.wait, self.cfg["poll_interval"]))
        self.busy_since[lane] = time.monotonic()
        claimed = self._claim_lane(lane, epoch)
        if counted_by_claim:
            self._count_claimed(lane, claimed)
        if not claimed:
            return float(self.cfg["poll_interval"])
        batches = group(claimed, self.cfg["immediate_max_age"], time.time())
        for i, batch in enumerate(batches):
            if self.lease.epoch != epoch or self.holds.stopped(time.time()):
                # Leadership lost, or the account is now held or down: the rest wait, burning nothing.
                self._requeue([c for b in batches[i:] for c in b.leads], epoch)
                break
            self._await_slot(lane, plan.reserve)
            self._send(batch, epoch)
        return 0.0

    def _await_slot(self, lane: str, reserve: float) -> None:
        """Wait for a rate slot; waiting is progress (not a hung call), so the lease keeps renewing."""
        while (wait := self.limiter.try_acquire(reserve)) > 0:
            self.busy_since[lane] = None
            time.sleep(min(wait, 0.25))
        self.busy_since[lane] = time.monotonic()
        self.budget.called(lane)

    def _observe(self, lane: str) -> bool:
        """Tell the budget policy the lane's arrivals since the last look and its due leads.

        Returns True (without counting the due leads) when a hot lead would go at once anyway.
        """
        now, mark = time.time(), self.arrival_marks[lane]
        if mark is None:  # first look: count from here on
            self.arrival_marks[lane] = self.queue.last_id()
        else:
            arrived = self.queue.arrivals(lane, mark)
            if arrived is not None:
                self.arrival_marks[lane] = arrived.last_id
                self.budget.observe_arrivals(lane, arrived.count, now - arrived.newest_received_at)
        if self.budget.eager(lane):
            return True
        due, oldest = self.queue.due(lane, self.lease.epoch or 0, self.cfg["batch_size"], time.time())
        self.budget.observe_queue(lane, due, now - oldest if due else 0.0)
        return False

    def _count_claimed(self, lane: str, claimed: list[ClaimedLead]) -> None:
        """Tell the budget the leads a claim found that arrived since the last count (not the retries)."""
        mark = self.arrival_marks[lane] or 0
        fresh = [c for c in claimed if c.id > mark]
        if fresh:
            self.arrival_marks[lane] = max(c.id for c in fresh)
            self.budget.observe_arrivals(lane, len(fresh), time.time() - max(c.received_at for c in fresh))

    def _claim_lane(self, priority: str, epoch: int) -> list[ClaimedLead]:
        """Claim due leads of one lane, killing poison leads (claims that never settled, max_claims times)."""
        claimed = self.queue.claim(
            epoch,
            self.holder,
            priority,
            self.cfg["batch_size"],
            claim_ttl=self.claim_ttl,
            exclude_campaigns=self.holds.held_campaigns(),
        )
        poison = [c for c in claimed if c.claims > self.cfg["max_claims"]]
        if poison:
            self.queue.settle(
                epoch,
                [
                    Settlement(c.id, LeadStatus.DEAD, error="claimed too often without settling (poison lead)")
                    for c in poison
                ],
            )
            claimed = [c for c in claimed if c.claims <= self.cfg["max_claims"]]
        if self.gates is not None and claimed:
            # The gates with today's config, after the claim and before the call: the others wait or stop.
            send, settle = self.gates.settlements(self.gates.screen(claimed))
            if settle:
                self._store(epoch, settle)
            claimed = send
        return claimed

    def _probe_campaign_holds(self, now: float) -> None:
        """Re-queue a held campaign's leads when its probe time comes (they re-hold if it still fails)."""
        for campaign in self.holds.due_campaigns(now):
            count = self.queue.release_held(campaign)
            log(logger, logging.INFO, "probing held campaign", campaign=campaign, leads=count)
