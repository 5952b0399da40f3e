"""The fetch pool: complete id-only records from the sender's API, then map and route them.

HubSpot Webhooks API, Meta Lead Ads and Pipedrive deals send ids only; the records are fetched off
the request path and outside the dispatch loop.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests
from sqlalchemy.engine import Engine

import routing
from dispatch.backoff import backoff
from dispatch.ratelimit import RateLimiter
from dispatch.wakeup import Waker
from engage.http import make_session
from handlers import base as handler_base
from handlers.base import FetchError, Record
from lead.lifecycle import LeadStatus
from logs import log
from prepare import prepare
from store.lease import Lease
from store.queue import FetchJob, FetchQueue

logger = logging.getLogger("leadrelay.fetch")


class FetchPool:
    """A loop that claims `fetching` leads under the leader's epoch and fetches them on worker threads."""

    def __init__(
        self,
        engine: Engine,
        sources: dict[str, Any],
        dispatch: dict[str, Any],
        lease: Lease,
        waker: Waker,
        workers: int = 4,
        on_queued: Callable[[list[int]], None] | None = None,
    ) -> None:
        """`sources` are the configured sources by name; `lease` is the leader's (for the epoch).

        `on_queued(lead ids)`: a completed lead is queued (consent retains start here, as at intake).
        """
        self.on_queued = on_queued
        self.queue = FetchQueue(engine)
        self.sources, self.cfg, self.lease, self.waker = sources, dispatch, lease, waker
        self.event = waker.subscribe("fetch")
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="leadrelay-fetch")
        self.local = threading.local()
        self.limiters: dict[str, RateLimiter] = {}
        self.inflight: set[int] = set()
        self.lock = threading.Lock()
        self.rng = random.Random()  # noqa: S311 - jitter, not secrecy
        self.workers = workers

    def run(self, stop: threading.Event) -> None:
        """Claim and fetch until stopped; idle waits end early on a wake-up."""
        failures = 0
        while not stop.is_set():
            try:
                busy = self._claim_and_submit()
                failures = 0
            except Exception as exc:  # database down, a bug: log, back off, carry on
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    log(logger, logging.WARNING, "fetch loop error; retrying", error=repr(exc)[:300], failures=failures)
                busy = False
            if not busy:
                self.event.wait(self.cfg["poll_interval"] if not failures else min(2.0, 0.25 * failures))
                self.event.clear()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def _claim_and_submit(self) -> bool:
        """Claim due fetches under the leader's epoch and hand them to the workers; True when some were."""
        epoch = self.lease.epoch
        if epoch is None:
            return False
        with self.lock:
            room = self.workers * 2 - len(self.inflight)
        if room <= 0:
            return False
        jobs = self.queue.claim(epoch, self.lease.holder, room, claim_ttl=self.cfg["lease_seconds"] * 15)
        for job in jobs:
            with self.lock:
                self.inflight.add(job.id)
            self.pool.submit(self._run_job, epoch, job)
        return bool(jobs)

    def _session(self) -> requests.Session:
        """One HTTP session per worker thread."""
        if not hasattr(self.local, "session"):
            self.local.session = make_session(pool_maxsize=4)
        session: requests.Session = self.local.session
        return session

    def _limiter(self, source_name: str, stype: handler_base.SourceType) -> RateLimiter | None:
        """The sender's own API limit, per source (e.g. HubSpot 100 / 10 s)."""
        rate = stype.fetch_rate
        if not rate:
            return None
        with self.lock:
            if source_name not in self.limiters:
                self.limiters[source_name] = RateLimiter([(int(rate[0]), float(rate[1]))])
            return self.limiters[source_name]

    def _run_job(self, epoch: int, job: FetchJob) -> None:
        """Fetch one record, map and route it, and store the outcome (fenced by epoch)."""
        try:
            self._fetch_one(epoch, job)
        except Exception as exc:  # never lose the job: it is retried after a backoff
            log(logger, logging.ERROR, "fetch crashed", lead_id=job.id, error=repr(exc))
            try:
                self._fail(epoch, job, f"crash: {exc!r}", retryable=job.claims < self.cfg["max_claims"], crashed=True)
            except Exception as again:  # database gone: the claim lapses and is re-taken later
                log(logger, logging.ERROR, "fetch outcome not recorded", lead_id=job.id, error=repr(again)[:200])
        finally:
            with self.lock:
                self.inflight.discard(job.id)

    def _fetch_one(self, epoch: int, job: FetchJob) -> None:
        """The fetch itself."""
        source = self.sources.get(job.source)
        if source is None:
            self._fail(epoch, job, f"source {job.source!r} is no longer configured", retryable=False)
            return
        stype = handler_base.type_of(source.type)
        if not stype.fetches:
            self._fail(epoch, job, f"source type {source.type!r} cannot fetch records", retryable=False)
            return
        limiter = self._limiter(source.name, stype)
        while limiter is not None and (wait := limiter.try_acquire()) > 0:
            time.sleep(min(wait, 1.0))
        try:
            fetched = stype.fetch(
                source.settings, Record(key=None, fields=job.record, fetch=job.fetch), self._session()
            )
        except FetchError as exc:
            self._fail(epoch, job, str(exc), retryable=exc.retryable)
            return
        # The webhook carried ids only, so intake's lifecycle rules saw no fields: they judge the fetched
        # record now (a contact marked do-not-call is never loaded, and its number is listed).
        change = routing.lifecycle(source.lifecycle, fetched)
        item = prepare(source, fetched, job.received_at, check_events=False, change=change)
        status = self.queue.complete(epoch, job.id, item)
        log(logger, logging.INFO, "record fetched", source=source.name, lead_id=job.id, status=status)
        if status == LeadStatus.QUEUED:
            if self.on_queued is not None:
                self.on_queued([job.id])
            self.waker.wake(item.priority)

    def _fail(self, epoch: int, job: FetchJob, error: str, retryable: bool, crashed: bool = False) -> None:
        """Retry with backoff and jitter, or settle invalid (permanent) / dead (budget spent)."""
        if not retryable:
            self.queue.fail(epoch, job.id, error, delay=None, crashed=crashed)
            log(logger, logging.WARNING, "fetch failed permanently", lead_id=job.id, error=error)
            return
        if time.time() - job.received_at > self.cfg["retry_budget"]:
            self.queue.fail(epoch, job.id, error, delay=0.0, dead=True)
            return
        delay = backoff(job.attempts, self.cfg["backoff_base"], self.cfg["backoff_cap"], self.rng)
        self.queue.fail(epoch, job.id, error, delay=delay, crashed=crashed)
        log(logger, logging.WARNING, "fetch will be retried", lead_id=job.id, error=error, delay=round(delay, 2))
