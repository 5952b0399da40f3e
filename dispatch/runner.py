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
from dispatch.fates import UNKNOWN, FateLookup, unsure
from dispatch.outcomes import Outcomes
from engage.errors import AuthError, BatchRejected, CampaignError, EngageError, ExchangeThrottled, Throttled, Unavailable
from logs import log
from metrics import DISPATCHED, ENGAGE_CALLS, IS_LEADER, SPEED_TO_LEAD
from store.lease import Lease
from store.queue import ClaimedLead, Queue, Settlement

logger = logging.getLogger("leadrelay.dispatch")

# last_error of leads waiting for an account-wide outage (expedited when Engage answers again).
OUTAGE = "Engage unavailable: "


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
        dispatch = {"call_timeout": 30.0, "outage_probe_cap": 30.0, **dispatch}
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
        self.fates = FateLookup()
        self.account_held = False  # credentials refused: nothing is claimed until a token can be had
        self.account_hold_until = 0.0  # when the run loop next tries for a token
        self.outage_until = 0.0  # Engage unreachable: nothing is claimed until the probe
        self.outage_failures = 0
        self.probe_lock = threading.Lock()  # during an outage only one lane calls Engage (the probe)
        self.campaign_holds: dict[str, float] = {}  # campaign → time of the next probe
        self.hold_failures: dict[str, int] = {}
        self.outcomes = Outcomes(self.queue)  # written now, or kept through a database outage
        self.state = None
        self.lock = threading.RLock()  # every piece of state both lanes touch (holds, breaker counters)
        # A call may take call_timeout (plus a lookup before it): only past that is a lane stuck.
        self.stuck_after = dispatch["call_timeout"] * 3 + dispatch["lease_seconds"]
        self.claim_ttl = dispatch["call_timeout"] * 3 + dispatch["lease_seconds"] * 3
        self.lane_events = {lane: waker.subscribe(lane) for lane in self.LANES}
        self.busy_since: dict[str, float | None] = {lane: None for lane in self.LANES}
        self.lanes_stop = threading.Event()
        self.retention_days = retention_days
        self.next_purge = 0.0

    # ------------------------------------------------------------------ leadership

    def run(self, stop: threading.Event) -> None:
        """Stand by until leader, then keep the lease while the lanes send; release it on the way out.

        Nothing in here may end the loop but `stop`: a database or Engage error is logged, waited
        out and retried, and leadership is re-contended once the database answers again."""
        log(logger, logging.INFO, "dispatcher starting", holder=self.holder)
        self.threads = [threading.Thread(target=self._lane_loop, args=(lane,), name=f"leadrelay-lane-{lane.lower()}",
                                         daemon=True) for lane in self.LANES]
        if any(hasattr(handler_base.get(s.type), "fetch") for s in self.sources.values()):
            pool = FetchPool(self.engine, self.sources, self.cfg, self.lease, self.waker)
            self.threads.append(threading.Thread(target=pool.run, args=(self.lanes_stop,),
                                                 name="leadrelay-fetch-loop", daemon=True))
        self.started = False
        failures = 0
        try:
            while not stop.is_set():
                try:
                    pause = self._tick()
                    if failures:
                        log(logger, logging.INFO, "dispatcher loop recovered", after_failures=failures)
                    failures = 0
                except Exception as exc:  # database gone, a bug: log, back off a little, carry on
                    failures += 1
                    self._tick_failed(exc, failures)
                    pause = min(2.0, 0.25 * failures, self.cfg["lease_seconds"] / 2)
                stop.wait(pause)
        finally:
            self._shutdown()

    def _tick(self) -> float:
        """One pass of the leader loop; returns how long to wait before the next."""
        if self.lease.epoch is None:
            if not self._become_leader():
                # Standbys look often so a lapsed lease is taken within a fraction of it.
                return min(self.cfg["poll_interval"], self.cfg["lease_seconds"] / 8)
            if not self.started:
                for thread in self.threads:
                    thread.start()
                self.started = True
        self._keep_lease()
        self._flush_rate_log()
        self._purge_if_due()
        self._probe_account_hold()
        return self.cfg["lease_seconds"] / 8

    def _tick_failed(self, exc: Exception, failures: int) -> None:
        """Log a failed pass; once the lease must have lapsed, stop acting as leader until re-acquired."""
        if failures == 1 or failures % 20 == 0:
            log(logger, logging.ERROR, "dispatcher loop error; retrying", error=repr(exc)[:300], failures=failures)
        if self.lease.epoch is not None and time.monotonic() - self.renewed_at > self.cfg["lease_seconds"] * 0.75:
            self.lease.epoch = None  # lanes stop claiming; settles are fenced by the epoch anyway
            IS_LEADER.set(0)
            log(logger, logging.WARNING, "dispatcher cannot renew its lease; standing by until the database answers",
                holder=self.holder)

    def _shutdown(self) -> None:
        """Graceful stop: lanes stop claiming, the call in flight settles, then the lease goes."""
        self.lanes_stop.set()
        self.waker.wake()
        for thread in self.threads:
            if thread.is_alive():
                # Long enough for a normal call to finish and settle; a wedged one is reclaimed (and
                # looked up) by the next leader instead of holding the shutdown.
                thread.join(min(self.stuck_after, 20.0))
        self._flush_rate_log()
        try:
            self.outcomes.flush()
            self.lease.release()
        except Exception as exc:  # the database is gone: the lease simply expires
            log(logger, logging.WARNING, "could not release the lease; it will expire", error=repr(exc)[:300])
            self.lease.epoch = None
        IS_LEADER.set(0)
        if self.backend:
            try:
                self.backend.close()
            except Exception:
                pass
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
        try:
            # The predecessor's calls of the last minute still count against Engage's windows.
            self.limiter.preload(self.ratelog.ages("loader"))
            if self.backend is None:
                self.backend = self.make_backend(self.lease)
            self.state = None
            self._set_state("sandbox" if self.backend.sandbox else "ok")
        except Exception:
            self.lease.epoch = None  # not ready to lead: contend again next pass (our own lease is re-takable)
            raise
        self.renewed_at = time.monotonic()
        IS_LEADER.set(1)
        log(logger, logging.INFO, "dispatcher is leader", holder=self.holder, epoch=epoch)
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
        # A call in flight is progress (its timeout follows Engage, not the lease); only a lane
        # far past any call's timeout is stuck, and then a standby should take over.
        stuck = [lane for lane, since in self.busy_since.items()
                 if since is not None and now - since > self.stuck_after]
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
        failures = 0
        while not self.lanes_stop.is_set():
            try:
                pause = self.step(lane) if self.lease.epoch is not None else self.cfg["poll_interval"]
                failures = 0
            except Exception as exc:  # never let one bad iteration kill the lane (database down, a bug)
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    log(logger, logging.ERROR, "dispatch step failed", lane=lane, error=repr(exc)[:300],
                        failures=failures)
                pause = min(2.0, 0.25 * failures)
            finally:
                self.busy_since[lane] = None
            if pause > 0:
                event.wait(pause)
                event.clear()

    def step(self, lane: str = "IMMEDIATE") -> float:
        """Send one batch of `lane` if one is due; return how long to idle (0: go again at once)."""
        epoch = self.lease.epoch
        if epoch is None:
            return self.cfg["poll_interval"]
        if self.outcomes and not self.outcomes.flush():
            return self.cfg["poll_interval"]
        now = time.time()
        if self.account_held:
            return self.cfg["poll_interval"]
        gate = self.outage_until
        if now < gate:
            return min(gate - now, self.cfg["poll_interval"])
        self._probe_campaign_holds(now)
        probing = False
        if self.outage_failures:
            # Engage is down: one call at a time probes it; the other lane claims nothing meanwhile.
            if not self.probe_lock.acquire(blocking=False):
                return min(0.25, self.cfg["poll_interval"])
            probing = True
        try:
            return self._step(lane, epoch)
        finally:
            if probing:
                self.probe_lock.release()

    def _step(self, lane: str, epoch: int) -> float:
        """The body of `step` once the gates let this lane go: the budget policy, then claim and send."""
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
        claimed = self._claim_lane(lane, epoch)
        if counted_by_claim:
            self._count_claimed(lane, claimed)
        if not claimed:
            return self.cfg["poll_interval"]
        groups = self._groups(claimed)
        for i, group in enumerate(groups):
            if self.lease.epoch != epoch or self.account_held or time.time() < self.outage_until:
                # Leadership lost, or the account is now held or down: the rest wait, burning nothing.
                rest = [c for g in groups[i:] for c in g]
                self._requeue(rest, epoch)
                break
            self._await_slot(lane, plan.reserve)
            self._send(group, epoch)
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
                "OR (status='sending' AND (claim_epoch < :epoch OR claimed_until < :now))) ORDER BY id LIMIT :n) due"),
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

    def _claim_lane(self, priority: str, epoch: int) -> list[ClaimedLead]:
        """Claim due leads of one lane, killing poison leads (claims that never settled, max_claims times)."""
        with self.lock:
            held = list(self.campaign_holds)
        claimed = self.queue.claim(epoch, self.holder, priority, self.cfg["batch_size"],
                                   claim_ttl=self.claim_ttl, exclude_campaigns=held)
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

    def _send(self, batch: list[ClaimedLead], epoch: int) -> None:
        """One lead-loader call for `batch` (leads of unknown fate looked up first), then settle each lead."""
        backend = self.backend
        campaign, dial, dup, tz, description = batch[0].group_key  # type: ignore[attr-defined]
        try:
            campaign_id = backend.directory.resolve(campaign)
            batch = self._look_up_first(batch, campaign_id, epoch)
            if not batch:
                return
            result = backend.client.load_leads(
                campaign_id, [c.lead for c in batch], dial_priority=dial, duplicate_handling=dup,
                time_zone_option=tz, description=description)
        except CampaignError as exc:
            self._campaign_failed(batch, campaign, exc, epoch)
            return
        except ExchangeThrottled as exc:
            # The token budget is spent (or RingCentral throttles): wait it out; not a credentials problem.
            ENGAGE_CALLS.labels("429").inc()
            wait = exc.retry_after if exc.retry_after is not None else self._backoff(0, cap=self.cfg["outage_probe_cap"])
            with self.lock:
                self.outage_until = max(self.outage_until, time.time() + wait)
            self._retry(batch, f"token exchange throttled; waiting {wait:.1f}s", epoch, delay=wait, count_attempt=False)
            return
        except AuthError as exc:
            self._account_failed(batch, exc, epoch)
            return
        except Throttled as exc:
            ENGAGE_CALLS.labels("429").inc()
            backoff = self._backoff(max(c.attempts for c in batch))
            pause = self.limiter.throttled(exc.retry_after, backoff)
            self._retry(batch, f"throttled (429); pausing {pause:.1f}s", epoch, delay=pause)
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
                    self._send(part, epoch)
                return
            self._settle(batch, "rejected", epoch, error=f"Engage rejected the lead (400): {exc.body or exc}")
            return
        except Unavailable as exc:
            ENGAGE_CALLS.labels("unavailable").inc()
            self._unavailable(batch, exc, epoch)
            return
        except EngageError as exc:
            ENGAGE_CALLS.labels("error").inc()
            self._retry(batch, f"Engage error: {exc}", epoch)
            return
        except Exception as exc:  # a bug or a poison lead: this claim stays counted, dead after max_claims
            log(logger, logging.ERROR, "send crashed", error=repr(exc), leads=[c.id for c in batch])
            self._store(epoch, [Settlement(c.id, "queued", error=f"{UNKNOWN}crash: {exc!r}", count_attempt=False,
                                           crashed=True, delay=self._backoff(c.claims)) for c in batch])
            return
        ENGAGE_CALLS.labels("ok").inc()
        self.limiter.succeeded()
        self._engage_answered(campaign)
        if result.general_failure:
            self._retry(batch, "GENERAL_FAILURE from the lead loader", epoch, response=result.raw)
            return
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
        written = self._store(epoch, settlements)
        self._set_state("sandbox" if backend.sandbox else "ok")
        log(logger, logging.INFO, "leads loaded" + (" (SANDBOX: nothing was dialed)" if backend.sandbox else ""),
            campaign=campaign, campaign_id=campaign_id, dial_priority=dial, sent=len(batch),
            rejected=len(result.rejected), settled=written, sandbox=backend.sandbox,
            ms=round(result.elapsed * 1000, 1), lead_ids=[c.id for c in batch])

    def _engage_answered(self, campaign: str) -> None:
        """Engage answered a call: close the outage (its leads become due at once) and this campaign's breaker."""
        with self.lock:
            was_down = self.outage_failures > 0
            self.outage_failures = 0
            self.outage_until = 0.0
            self.hold_failures.pop(campaign, None)
            self.hold_failures.pop("__account__", None)
        if was_down:
            try:
                count = self.queue.expedite(OUTAGE)
            except Exception as exc:  # they come due on their own schedule anyway
                count = None
                log(logger, logging.WARNING, "could not expedite leads after the outage", error=repr(exc)[:200])
            log(logger, logging.INFO, "Engage answers again; leads waiting for it are due now", leads=count)
            self.waker.wake()

    def _unavailable(self, batch: list[ClaimedLead], exc: Unavailable, epoch: int) -> None:
        """5xx, timeouts, refused connections: the whole account waits for one probe; unknown fates are marked."""
        prefix = UNKNOWN if exc.fate_unknown else ""
        if exc.status is not None and 200 <= exc.status < 300:
            # Engage answered, unreadably: not an outage. Look the leads up before resending them.
            self._retry(batch, f"{prefix}{exc}", epoch, delay=self._backoff(0))
            return
        self._set_state("degraded", str(exc))
        # An outage is account-wide: every lead waits for one probe instead of each backing
        # off on its own, so the queue drains the moment Engage answers again.
        with self.lock:
            self.outage_failures += 1
            delay = self._backoff(self.outage_failures - 1, cap=min(self.cfg["outage_probe_cap"], self.cfg["backoff_cap"]))
            self.outage_until = max(self.outage_until, time.time() + delay)
        self._retry(batch, f"{prefix}{OUTAGE}{exc}", epoch, delay=delay)

    def _look_up_first(self, batch: list[ClaimedLead], campaign_id, epoch: int) -> list[ClaimedLead]:
        """Leads whose last call may have landed (unknown fate, or a claim that never settled) are looked up
        with leadSearch; those Engage has are settled `delivered`, the rest are returned to be sent.

        REMOVE_FROM_LIST de-duplicates only within one upload, so a blind resend could dial twice."""
        doubtful = [c for c in batch if unsure(c)]
        if not doubtful:
            return batch
        try:
            found = self.fates.loaded(self.backend.client, campaign_id, doubtful)
        except Throttled as exc:
            # leadSearch has its own budget: wait for it without pausing the lead loader.
            wait = exc.retry_after if exc.retry_after is not None else self._backoff(0)
            self._retry(batch, f"{UNKNOWN}lookup throttled (429)", epoch, delay=wait, count_attempt=False)
            return []
        if found is None:  # lead search refused: resend, counted as undecided
            return batch
        if found:
            answer = {"found_by": "leadSearch", "campaign_id": campaign_id}
            self._store(epoch, [Settlement(c.id, "delivered", response=answer) for c in doubtful if c.extern_id in found])
            log(logger, logging.INFO, "leads already in Engage (found by lookup); not resent", count=len(found),
                lead_ids=[c.id for c in doubtful if c.extern_id in found])
        for lead in doubtful:
            lead.last_error = None  # looked up: it is not loaded, so a failure now is a plain failure
        return [c for c in batch if c.extern_id not in found]

    def _store(self, epoch: int, settlements: list[Settlement]) -> int:
        """Write outcomes (kept through a database outage)."""
        return self.outcomes.store(epoch, settlements)

    def _requeue(self, batch: list[ClaimedLead], epoch: int) -> None:
        """Hand claimed leads back untouched (no attempt burns): a gate closed after they were claimed."""
        self._store(epoch, [Settlement(c.id, "retrying", error=c.last_error, count_attempt=False) for c in batch])

    def _settle(self, batch: list[ClaimedLead], status: str, epoch: int, error: str, **kw) -> None:
        """Settle every lead of the batch the same way."""
        self._store(epoch, [Settlement(c.id, status, error=error, **kw) for c in batch])
        for _ in batch:
            DISPATCHED.labels(status, str(bool(self.backend and self.backend.sandbox)).lower()).inc()

    def _backoff(self, attempts: int, cap: float | None = None) -> float:
        """Exponential backoff with jitter, capped."""
        base, cap = self.cfg["backoff_base"], cap if cap is not None else self.cfg["backoff_cap"]
        delay = min(cap, base * (2 ** min(attempts, 20)))
        return delay * (0.5 + self.rng.random() / 2)

    def _retry(self, batch: list[ClaimedLead], error: str, epoch: int, delay: float | None = None, response=None,
               count_attempt: bool = True) -> None:
        """Schedule another attempt, or declare the lead dead once its retry budget (from receipt) is spent.

        A lead whose earlier call may have landed keeps that mark until a lookup settles it."""
        now = time.time()
        out = []
        for lead in batch:
            mark = UNKNOWN if (lead.last_error or "").startswith(UNKNOWN) and not error.startswith(UNKNOWN) else ""
            if now - lead.received_at > self.cfg["retry_budget"]:
                out.append(Settlement(lead.id, "dead", error=f"retry budget spent; last error: {error}", response=response))
                DISPATCHED.labels("dead", str(self.backend.sandbox).lower()).inc()
            else:
                out.append(Settlement(lead.id, "retrying", error=mark + error, response=response,
                                      count_attempt=count_attempt,
                                      delay=delay if delay is not None else self._backoff(lead.attempts)))
        self._store(epoch, out)
        log(logger, logging.WARNING, "leads will be retried", error=error, count=len(batch))

    def _campaign_failed(self, batch: list[ClaimedLead], campaign: str, exc: CampaignError, epoch: int) -> None:
        """Re-resolve the name once; if it still fails, open this campaign's breaker and hold its leads."""
        ENGAGE_CALLS.labels("campaign_error").inc()
        with self.lock:
            first = campaign not in self.hold_failures
        if not getattr(exc, "_retried", False) and self.backend is not None and first:
            try:
                self.backend.directory.refresh()
                new_id = self.backend.directory.resolve(campaign)
                log(logger, logging.INFO, "campaign re-resolved", campaign=campaign, campaign_id=new_id)
            except Exception:
                new_id = None
            if new_id is not None:
                with self.lock:
                    self.hold_failures.setdefault(campaign, 0)
                self._retry(batch, f"campaign error, re-resolved: {exc}", epoch, delay=0.0)
                return
        with self.lock:
            failures = self.hold_failures.get(campaign, 0) + 1
            self.hold_failures[campaign] = failures
            probe = min(self.cfg["hold_probe"] * (2 ** (failures - 1)), 3600.0)
            self.campaign_holds[campaign] = time.time() + probe
        self._settle(batch, "held", epoch, error=f"campaign {campaign!r}: {exc}", count_attempt=False)
        held = self.queue.hold_queued(campaign, f"campaign {campaign!r} breaker open: {exc}")
        log(logger, logging.ERROR, "campaign breaker open; its leads are held", campaign=campaign,
            error=str(exc), held=held + len(batch), probe_in=round(probe, 1))

    def _probe_campaign_holds(self, now: float) -> None:
        """Re-queue a held campaign's leads when its probe time comes (they re-hold if it still fails)."""
        with self.lock:
            due = [campaign for campaign, probe_at in self.campaign_holds.items() if now >= probe_at]
            for campaign in due:
                # pop, not del: both lanes probe, and only one may take each hold.
                self.campaign_holds.pop(campaign, None)
        for campaign in due:
            count = self.queue.release_held(campaign)
            log(logger, logging.INFO, "probing held campaign", campaign=campaign, leads=count)

    def _account_failed(self, batch: list[ClaimedLead], exc: AuthError, epoch: int) -> None:
        """Credentials refused: hold every lead (no attempts burn); the leader loop tries for a token later."""
        ENGAGE_CALLS.labels("auth_error").inc()
        with self.lock:
            failures = self.hold_failures.get("__account__", 0) + 1
            self.hold_failures["__account__"] = failures
            probe = min(self.cfg["hold_probe"] * (2 ** (failures - 1)), 3600.0)
            self.account_held = True
            self.account_hold_until = time.time() + probe
        self._settle(batch, "held", epoch, error=f"Engage authentication failed: {exc}", count_attempt=False)
        self.queue.hold_queued(None, f"Engage authentication failed: {exc}")
        self._set_state("held", f"authentication failed: {exc}")
        log(logger, logging.ERROR, "ALERT: Engage authentication failing; all leads held", error=str(exc),
            probe_in=round(probe, 1))

    def _probe_account_hold(self) -> None:
        """While credentials are refused, try for a token now and then (no lead is sent); lift the hold once one comes."""
        if not self.account_held or time.time() < self.account_hold_until or self.backend is None:
            return
        auth = getattr(self.backend.client, "auth", None)
        try:
            if auth is not None:
                auth.headers()
        except AuthError as exc:
            with self.lock:
                failures = self.hold_failures.get("__account__", 0) + 1
                self.hold_failures["__account__"] = failures
                probe = min(self.cfg["hold_probe"] * (2 ** (failures - 1)), 3600.0)
                self.account_hold_until = time.time() + probe
            log(logger, logging.ERROR, "ALERT: Engage authentication still failing; leads stay held",
                error=str(exc), probe_in=round(probe, 1))
            return
        except Exception as exc:  # token endpoints down: an outage, try again soon
            self.account_hold_until = time.time() + min(self.cfg["hold_probe"], self.cfg["outage_probe_cap"])
            log(logger, logging.WARNING, "account hold probe could not reach Engage", error=str(exc)[:200])
            return
        with self.lock:
            self.account_held = False
        count = self.queue.release_held()
        self._set_state("sandbox" if self.backend.sandbox else "ok")
        self.waker.wake()
        log(logger, logging.INFO, "Engage credentials work again; held leads released", leads=count)

    def _set_state(self, state: str, detail: str = "") -> None:
        """Publish Engage's state in the lease row when it changes."""
        if state != self.state:
            try:
                self.lease.set_engage_state(state, detail)
                self.state = state
            except Exception as exc:  # only a report for /readyz: never worth failing a send over
                log(logger, logging.WARNING, "could not publish Engage state", state=state, error=repr(exc)[:200])
