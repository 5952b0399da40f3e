"""The dispatcher: lease → claim → batch → rate limit → send → settle, one active process at a time."""
from __future__ import annotations

import datetime
import logging
import os
import random
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

from dispatch.budget import Budget, Plan
from dispatch.fetcher import FetchPool
from dispatch.ratelimit import RateLimiter
from store.ratelog import RateLog
from store.retention import purge
from dispatch.wakeup import Waker
from handlers import base as handler_base
from engage.errors import AuthError, BatchRejected, CampaignError, EngageError, Throttled, Unavailable
from logs import log
from metrics import DISPATCHED, ENGAGE_CALLS, IS_LEADER, SPEED_TO_LEAD
from store.lease import Lease
from store.queue import ClaimedLead, Queue, Settlement

logger = logging.getLogger("leadrelay.dispatch")


@dataclass
class Backend:
    """What the dispatcher talks to: an Engage client and its campaign directory."""

    client: object
    directory: object
    sandbox: bool
    close: Callable[[], None] = lambda: None


def _summary(result) -> dict:
    """Engage's answer as kept on each lead: the counts and status, not every batch-mate's rejected row."""
    raw = result.raw if isinstance(result.raw, dict) else {}
    keep = ("processingResult", "processingStatus", "message", "leadsSupplied", "leadsAccepted", "leadsInserted",
            "dncReturnedCount")
    return {"http_status": result.status, **{k: raw[k] for k in keep if k in raw}}


def identity() -> str:
    """A holder name that is unique per process and readable in the lease row."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


class Dispatcher:
    """Leader election and lease renewal in `run()`; one worker thread per lane does the sending."""

    LANES = ("IMMEDIATE", "NORMAL")
    NORMAL_RESERVE = Budget.NORMAL_RESERVE  # share of each rate window NORMAL leaves to hot leads
    # While a lane waits to share a call, new leads re-open the question at most this often: a flood's
    # every webhook must not cost the lane two queries (the request threads share the process).
    RECHECK = {"IMMEDIATE": 0.01, "NORMAL": 0.05}

    def __init__(self, engine, dispatch: dict, make_backend: Callable[[Lease], Backend], waker: Waker,
                 holder: str | None = None, rng: random.Random | None = None, sources: dict | None = None,
                 retention_days: int | None = None):
        """`dispatch` is the validated `dispatch:` config; `make_backend` builds the Engage side once leader;
        `sources` (the configured sources) lets the leader's fetch pool complete id-only records."""
        self.engine, self.cfg, self.make_backend, self.waker = engine, dispatch, make_backend, waker
        self.sources = sources or {}
        self.holder = holder or identity()
        self.queue = Queue(engine)
        self.lease = Lease(engine, self.holder, dispatch["lease_seconds"])
        self.ratelog = RateLog(engine)
        self.limiter = RateLimiter([(dispatch["rate_limit_10s"], 10.0), (dispatch["rate_limit_60s"], 60.0)],
                                   on_call=lambda: self.ratelog.record("loader"))
        self.budget = Budget(self.limiter, dispatch["batch_size"], dispatch["normal_batch_delay"],
                             dispatch.get("immediate_max_wait", Budget.IMMEDIATE_MAX_WAIT))
        self.arrival_marks: dict[str, int | None] = {lane: None for lane in self.LANES}
        self.recheck_at = {lane: 0.0 for lane in self.LANES}
        self.rng = rng or random.Random()
        self.backend: Backend | None = None
        self.renewed_at = 0.0
        self.account_hold_until = 0.0  # auth failing: nothing is claimed until the probe
        self.outage_until = 0.0  # Engage unreachable: nothing is claimed until the probe
        self.outage_failures = 0
        self.campaign_holds: dict[str, float] = {}  # campaign → time of the next probe
        self.hold_failures: dict[str, int] = {}
        self.state = None
        self.lock = threading.Lock()
        self.lane_events = {lane: waker.subscribe(lane) for lane in self.LANES}
        self.busy_since: dict[str, float | None] = {lane: None for lane in self.LANES}
        self.lanes_stop = threading.Event()
        self.retention_days = retention_days
        self.next_purge = 0.0

    # ------------------------------------------------------------------ leadership

    def run(self, stop: threading.Event) -> None:
        """Stand by until leader, then keep the lease while the lanes send; release it on the way out."""
        poll = self.cfg["poll_interval"]
        log(logger, logging.INFO, "dispatcher starting", holder=self.holder)
        threads = [threading.Thread(target=self._lane_loop, args=(lane,), name=f"leadrelay-lane-{lane.lower()}",
                                    daemon=True) for lane in self.LANES]
        if any(hasattr(handler_base.get(s.type), "fetch") for s in self.sources.values()):
            pool = FetchPool(self.engine, self.sources, self.cfg, self.lease, self.waker)
            threads.append(threading.Thread(target=pool.run, args=(self.lanes_stop,), name="leadrelay-fetch-loop",
                                            daemon=True))
        started = False
        try:
            while not stop.is_set():
                if self.lease.epoch is None:
                    if not self._become_leader():
                        # Standbys look often so a lapsed lease is taken within a fraction of it.
                        stop.wait(min(poll, self.cfg["lease_seconds"] / 8))
                        continue
                    if not started:
                        for thread in threads:
                            thread.start()
                        started = True
                self._keep_lease()
                self._flush_rate_log()
                self._purge_if_due()
                stop.wait(self.cfg["lease_seconds"] / 8)
        finally:
            # Graceful stop: lanes stop claiming, the call in flight finishes and settles,
            # then the lease goes so a standby starts at once.
            self.lanes_stop.set()
            self.waker.wake()
            for thread in threads:
                if thread.is_alive():
                    thread.join(self.cfg["lease_seconds"] * 2 + 5)
            self._flush_rate_log()
            self.lease.release()
            IS_LEADER.set(0)
            if self.backend:
                self.backend.close()
            log(logger, logging.INFO, "dispatcher stopped", holder=self.holder)

    def _flush_rate_log(self) -> None:
        """Persist recent loader calls for a successor (off the send path)."""
        try:
            self.ratelog.flush()
        except Exception as exc:
            log(logger, logging.WARNING, "rate log flush failed", error=str(exc))

    def _purge_if_due(self) -> None:
        """The leader erases personal data past retention once an hour (one process does it, not all)."""
        if self.retention_days is None or time.monotonic() < self.next_purge:
            return
        self.next_purge = time.monotonic() + 3600
        try:
            result = purge(self.engine, self.retention_days)
            if any(result.values()):
                log(logger, logging.INFO, "retention purge", retention_days=self.retention_days, **result)
        except Exception as exc:
            log(logger, logging.WARNING, "retention purge failed", error=str(exc))

    def _become_leader(self) -> bool:
        """Try the lease; on success build the backend, inherit the rate windows, lift old holds."""
        epoch = self.lease.acquire()
        if epoch is None:
            return False
        self.renewed_at = time.monotonic()
        IS_LEADER.set(1)
        log(logger, logging.INFO, "dispatcher is leader", holder=self.holder, epoch=epoch)
        # The predecessor's calls of the last minute still count against Engage's windows.
        self.limiter.preload(self.ratelog.ages("loader"))
        if self.backend is None:
            self.backend = self.make_backend(self.lease)
        self._set_state("sandbox" if self.backend.sandbox else "ok")
        # A predecessor's holds are not known here: let held leads flow, they re-hold if still failing.
        released = self.queue.release_held()
        if released:
            log(logger, logging.INFO, "held leads re-queued after takeover", count=released)
        self.waker.wake()
        return True

    def _keep_lease(self) -> None:
        """Renew from the lanes' progress: a lane stuck in one call past half the lease stops renewal."""
        now = time.monotonic()
        if now - self.renewed_at < self.cfg["lease_seconds"] / 4:
            return
        stuck = [lane for lane, since in self.busy_since.items()
                 if since is not None and now - since > self.cfg["lease_seconds"] * 0.75]
        if stuck:
            log(logger, logging.ERROR, "a lane is stuck; not renewing the lease", lanes=stuck)
            return
        if self.lease.renew():
            self.renewed_at = now
            return
        IS_LEADER.set(0)
        log(logger, logging.WARNING, "dispatcher lost the lease", holder=self.holder)

    # ------------------------------------------------------------------ lanes

    def _lane_loop(self, lane: str) -> None:
        """Send this lane's leads while leader; IMMEDIATE never waits behind a NORMAL call."""
        event = self.lane_events[lane]
        while not self.lanes_stop.is_set():
            try:
                pause = self.step(lane) if self.lease.epoch is not None else self.cfg["poll_interval"]
            except Exception as exc:  # never let one bad iteration kill the lane
                log(logger, logging.ERROR, "dispatch step failed", lane=lane, error=repr(exc))
                pause = 0.5
            finally:
                self.busy_since[lane] = None
            if pause > 0:
                event.wait(pause)
                event.clear()

    def step(self, lane: str = "IMMEDIATE") -> float:
        """Send one batch of `lane` if one is due; return how long to idle (0: go again at once)."""
        now = time.time()
        gate = max(self.account_hold_until, self.outage_until)
        if now < gate:
            return min(gate - now, self.cfg["poll_interval"])
        self._probe_campaign_holds(now)
        hold = self.recheck_at[lane] - time.monotonic()
        if hold > 0:
            return hold
        # The budget policy decides from the lane's queue and arrivals (dispatch/budget.py). While hot
        # leads are sparse they go at once, and the claim itself counts them: no query before the call.
        counted_by_claim = self.arrival_marks[lane] is not None and self.budget.eager(lane)
        if counted_by_claim or self._observe(lane):
            plan = Plan(0.0, 0.0, "eager")
        else:
            plan = self.budget.plan(lane)
        if plan.mode == "idle":
            return self.cfg["poll_interval"]
        if plan.wait > 0:
            # While we wait, more leads arrive and join the next (bigger) batch; a new lead wakes us.
            self.recheck_at[lane] = time.monotonic() + min(plan.wait, self.RECHECK[lane])
            return min(plan.wait, self.cfg["poll_interval"])
        self.busy_since[lane] = time.monotonic()
        claimed = self._claim_lane(lane)
        if counted_by_claim:
            self._count_claimed(lane, claimed)
        if not claimed:
            return self.cfg["poll_interval"]
        for group in self._groups(claimed):
            if self.lease.epoch is None:
                break
            self._await_slot(lane, plan.reserve)
            self._send(group)
        return 0.0

    def _await_slot(self, lane: str, reserve: float) -> None:
        """Wait for a rate slot; waiting is progress (not a hung call), so the lease keeps renewing."""
        while (wait := self.limiter.try_acquire(reserve)) > 0:
            self.busy_since[lane] = None
            time.sleep(min(wait, 0.25))
        self.busy_since[lane] = time.monotonic()
        self.budget.called(lane)

    def _due(self, lane: str) -> tuple[int, float]:
        """How many leads of the lane could be claimed now (capped at one batch), and the oldest's receipt."""
        from sqlalchemy import text

        with self.engine.connect() as conn:
            row = conn.execute(text(
                "SELECT COUNT(*), MIN(received_at) FROM (SELECT received_at FROM leads WHERE priority=:p "
                "AND ((status IN ('queued','retrying') AND next_attempt_at <= :now) "
                "OR (status='sending' AND claim_epoch < :epoch)) ORDER BY id LIMIT :n) due"),
                {"p": lane, "now": time.time(), "epoch": self.lease.epoch or 0,
                 "n": self.cfg["batch_size"]}).first()
        return int(row[0]), float(row[1] or 0.0)

    def _observe(self, lane: str) -> bool:
        """Tell the budget policy the lane's arrivals since the last look and (unless a hot lead would go at
        once anyway: then True) its due leads."""
        from sqlalchemy import text

        now, mark = time.time(), self.arrival_marks[lane]
        with self.engine.connect() as conn:
            if mark is None:  # first look: count from here on (the ids index makes this cheap)
                self.arrival_marks[lane] = int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM leads")).scalar())
            else:
                row = conn.execute(text("SELECT COUNT(*), MAX(id), MAX(received_at) FROM leads "
                                        "WHERE id > :mark AND priority = :p"), {"mark": mark, "p": lane}).first()
                if row[1] is not None:
                    self.arrival_marks[lane] = int(row[1])
                    self.budget.observe_arrivals(lane, int(row[0]), now - float(row[2]))
        if self.budget.eager(lane):
            return True
        due, oldest = self._due(lane)
        self.budget.observe_queue(lane, due, now - oldest if due else 0.0)
        return False

    def _count_claimed(self, lane: str, claimed: list[ClaimedLead]) -> None:
        """Tell the budget the leads a claim found that arrived since the last count (not the retries)."""
        mark = self.arrival_marks[lane] or 0
        fresh = [c for c in claimed if c.id > mark]
        if fresh:
            self.arrival_marks[lane] = max(c.id for c in fresh)
            self.budget.observe_arrivals(lane, len(fresh), time.time() - max(c.received_at for c in fresh))

    def _claim_lane(self, priority: str) -> list[ClaimedLead]:
        """Claim due leads of one lane, killing poison leads that crashed too often."""
        epoch = self.lease.epoch
        if epoch is None:
            return []
        claimed = self.queue.claim(epoch, self.holder, priority, self.cfg["batch_size"],
                                   claim_ttl=self.cfg["lease_seconds"] * 3,
                                   exclude_campaigns=list(self.campaign_holds))
        poison = [c for c in claimed if c.claims > self.cfg["max_claims"]]
        if poison:
            self.queue.settle(epoch, [Settlement(c.id, "dead", error="claimed too often without settling (poison lead)")
                                      for c in poison])
            claimed = [c for c in claimed if c.claims <= self.cfg["max_claims"]]
        return claimed

    def _groups(self, claimed: list[ClaimedLead]) -> list[list[ClaimedLead]]:
        """Coalesce leads sharing campaign and load options; never two equal phones or externIds in one call."""
        groups: OrderedDict[tuple, list[list[ClaimedLead]]] = OrderedDict()
        max_age = self.cfg["immediate_max_age"]
        now = time.time()
        for lead in claimed:
            dial = lead.priority
            if dial == "IMMEDIATE" and now - lead.received_at > max_age:
                dial = "NORMAL"  # stale hot leads must not jump ahead of fresh ones
            opts = lead.load_options
            key = (lead.campaign, dial, opts.get("duplicateHandling"), opts.get("timeZoneOption"),
                   self._description(opts.get("description", "leadrelay {source} {date}"), lead.source))
            batches = groups.setdefault(key, [[]])
            for batch in batches:
                if all(b.extern_id != lead.extern_id and b.primary_phone != lead.primary_phone for b in batch):
                    batch.append(lead)
                    break
            else:
                batches.append([lead])
            lead.dial_priority, lead.group_key = dial, key  # type: ignore[attr-defined]
        return [batch for batches in groups.values() for batch in batches if batch]

    @staticmethod
    def _description(template: str, source: str) -> str:
        """A stable list description per source and day (not a new list per call)."""
        return template.format(source=source, date=datetime.date.today().isoformat())

    # ------------------------------------------------------------------ send and settle

    def _send(self, batch: list[ClaimedLead]) -> None:
        """One lead-loader call for `batch`, then settle every lead by its own outcome."""
        epoch = self.lease.epoch
        backend = self.backend
        campaign, dial, dup, tz, description = batch[0].group_key  # type: ignore[attr-defined]
        try:
            campaign_id = backend.directory.resolve(campaign)
            result = backend.client.load_leads(
                campaign_id, [c.lead for c in batch], dial_priority=dial, duplicate_handling=dup,
                time_zone_option=tz, description=description)
        except CampaignError as exc:
            self._campaign_failed(batch, campaign, exc)
            return
        except AuthError as exc:
            self._account_failed(batch, exc)
            return
        except Throttled as exc:
            ENGAGE_CALLS.labels("429").inc()
            backoff = self._backoff(max(c.attempts for c in batch))
            pause = self.limiter.throttled(exc.retry_after, backoff)
            self._retry(batch, f"throttled (429); pausing {pause:.1f}s", delay=pause)
            return
        except BatchRejected as exc:
            ENGAGE_CALLS.labels("400").inc()
            if len(batch) > 1:
                # One bad row must not sink its batch-mates: split and send the halves.
                half = len(batch) // 2
                log(logger, logging.WARNING, "batch rejected; splitting", size=len(batch))
                lane = batch[0].priority
                for part in (batch[:half], batch[half:]):
                    self._await_slot(lane, self.NORMAL_RESERVE if lane == "NORMAL" else 0.0)
                    self._send(part)
                return
            self._settle(batch, "rejected", error=f"Engage rejected the lead (400): {exc.body or exc}")
            return
        except Unavailable as exc:
            ENGAGE_CALLS.labels("unavailable").inc()
            self._set_state("degraded", str(exc))
            # An outage is account-wide: every lead waits for one probe instead of each backing
            # off on its own, so the queue drains the moment Engage answers again.
            with self.lock:
                self.outage_failures += 1
                delay = self._backoff(self.outage_failures - 1, cap=min(30.0, self.cfg["backoff_cap"]))
                self.outage_until = max(self.outage_until, time.time() + delay)
            self._retry(batch, f"Engage unavailable: {exc}", delay=delay)
            return
        except EngageError as exc:
            ENGAGE_CALLS.labels("error").inc()
            self._retry(batch, f"Engage error: {exc}")
            return
        except Exception as exc:  # a bug or a poison lead: counted per claim, dead after max_claims
            log(logger, logging.ERROR, "send crashed", error=repr(exc), leads=[c.id for c in batch])
            self.queue.settle(epoch, [Settlement(c.id, "queued", error=f"crash: {exc!r}", count_attempt=False,
                                                 delay=self._backoff(c.claims)) for c in batch])
            return
        ENGAGE_CALLS.labels("ok").inc()
        self.limiter.succeeded()
        if result.general_failure:
            self._retry(batch, "GENERAL_FAILURE from the lead loader", response=result.raw)
            return
        self._set_state("sandbox" if backend.sandbox else "ok")
        self.hold_failures.pop(campaign, None)
        self.hold_failures.pop("__account__", None)
        self.outage_failures = 0
        settlements = []
        answer = _summary(result)
        for lead in batch:
            if lead.extern_id in result.rejected:
                settlements.append(Settlement(lead.id, "rejected", error=result.rejected[lead.extern_id], response=answer))
                DISPATCHED.labels("rejected", str(backend.sandbox).lower()).inc()
            else:
                settlements.append(Settlement(lead.id, "delivered", response=answer))
                DISPATCHED.labels("delivered", str(backend.sandbox).lower()).inc()
                SPEED_TO_LEAD.labels(lead.priority).observe(time.time() - lead.received_at)
        written = self.queue.settle(epoch, settlements)
        log(logger, logging.INFO, "leads loaded" + (" (SANDBOX: nothing was dialed)" if backend.sandbox else ""),
            campaign=campaign, campaign_id=campaign_id, dial_priority=dial, sent=len(batch),
            rejected=len(result.rejected), settled=written, sandbox=backend.sandbox,
            ms=round(result.elapsed * 1000, 1), lead_ids=[c.id for c in batch])

    def _settle(self, batch: list[ClaimedLead], status: str, error: str, **kw) -> None:
        """Settle every lead of the batch the same way."""
        self.queue.settle(self.lease.epoch, [Settlement(c.id, status, error=error, **kw) for c in batch])
        for _ in batch:
            DISPATCHED.labels(status, str(bool(self.backend and self.backend.sandbox)).lower()).inc()

    def _backoff(self, attempts: int, cap: float | None = None) -> float:
        """Exponential backoff with jitter, capped."""
        base, cap = self.cfg["backoff_base"], cap if cap is not None else self.cfg["backoff_cap"]
        delay = min(cap, base * (2 ** min(attempts, 20)))
        return delay * (0.5 + self.rng.random() / 2)

    def _retry(self, batch: list[ClaimedLead], error: str, delay: float | None = None, response=None) -> None:
        """Schedule another attempt, or declare the lead dead once its retry budget is spent."""
        now = time.time()
        out = []
        for lead in batch:
            if now - lead.received_at > self.cfg["retry_budget"]:
                out.append(Settlement(lead.id, "dead", error=f"retry budget spent; last error: {error}", response=response))
                DISPATCHED.labels("dead", str(self.backend.sandbox).lower()).inc()
            else:
                out.append(Settlement(lead.id, "retrying", error=error, response=response,
                                      delay=delay if delay is not None else self._backoff(lead.attempts)))
        self.queue.settle(self.lease.epoch, out)
        log(logger, logging.WARNING, "leads will be retried", error=error, count=len(batch))

    def _campaign_failed(self, batch: list[ClaimedLead], campaign: str, exc: CampaignError) -> None:
        """Re-resolve the name once; if it still fails, open this campaign's breaker and hold its leads."""
        ENGAGE_CALLS.labels("campaign_error").inc()
        if not getattr(exc, "_retried", False) and self.backend is not None:
            try:
                self.backend.directory.refresh()
                new_id = self.backend.directory.resolve(campaign)
                log(logger, logging.INFO, "campaign re-resolved", campaign=campaign, campaign_id=new_id)
            except Exception:
                new_id = None
            if new_id is not None and campaign not in self.hold_failures:
                self.hold_failures[campaign] = 0
                self._retry(batch, f"campaign error, re-resolved: {exc}", delay=0.0)
                return
        failures = self.hold_failures.get(campaign, 0) + 1
        self.hold_failures[campaign] = failures
        probe = min(self.cfg["hold_probe"] * (2 ** (failures - 1)), 3600.0)
        self.campaign_holds[campaign] = time.time() + probe
        self._settle(batch, "held", error=f"campaign {campaign!r}: {exc}", count_attempt=False)
        held = self.queue.hold_queued(campaign, f"campaign {campaign!r} breaker open: {exc}")
        log(logger, logging.ERROR, "campaign breaker open; its leads are held", campaign=campaign,
            error=str(exc), held=held + len(batch), probe_in=round(probe, 1))

    def _probe_campaign_holds(self, now: float) -> None:
        """Re-queue a held campaign's leads when its probe time comes (they re-hold if it still fails)."""
        for campaign, probe_at in list(self.campaign_holds.items()):
            if now >= probe_at:
                del self.campaign_holds[campaign]
                count = self.queue.release_held(campaign)
                log(logger, logging.INFO, "probing held campaign", campaign=campaign, leads=count)

    def _account_failed(self, batch: list[ClaimedLead], exc: AuthError) -> None:
        """Credentials failing: hold every lead (no attempts burn) and probe again later."""
        ENGAGE_CALLS.labels("auth_error").inc()
        failures = self.hold_failures.get("__account__", 0) + 1
        self.hold_failures["__account__"] = failures
        probe = min(self.cfg["hold_probe"] * (2 ** (failures - 1)), 3600.0)
        self.account_hold_until = time.time() + probe
        self._settle(batch, "held", error=f"Engage authentication failed: {exc}", count_attempt=False)
        self.queue.hold_queued(None, f"Engage authentication failed: {exc}")
        self._set_state("held", f"authentication failed: {exc}")
        log(logger, logging.ERROR, "ALERT: Engage authentication failing; all leads held", error=str(exc),
            probe_in=round(probe, 1))
        # After the probe delay, held leads flow again on their own.
        timer = threading.Timer(probe, self._lift_account_hold)
        timer.daemon = True
        timer.start()

    def _lift_account_hold(self) -> None:
        """Probe time: let held leads try again."""
        if self.lease.epoch is None:
            return
        count = self.queue.release_held()
        self.waker.wake()
        log(logger, logging.INFO, "probing Engage after an account hold", leads=count)

    def _set_state(self, state: str, detail: str = "") -> None:
        """Publish Engage's state in the lease row when it changes."""
        if state != self.state:
            self.state = state
            self.lease.set_engage_state(state, detail)
