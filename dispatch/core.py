"""The dispatcher's shared parts, built once and declared here so each room (leader, lanes, sender) reads alone."""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

import dispatch.engage_jobs
import dispatch.writeback_jobs  # noqa: F401 - registers the CRM write-back kinds
from dispatch.backoff import backoff
from dispatch.batching import Batch
from dispatch.budget import Budget
from dispatch.fates import FateLookup
from dispatch.gating import Gatekeeper
from dispatch.holds import Holds
from dispatch.housekeeping import Housekeeping
from dispatch.jobs import REGISTRY, JobContext, JobRunner
from dispatch.outcomes import Outcomes
from dispatch.ratelimit import RateLimiter
from dispatch.wakeup import Waker
from store.lease import Lease
from store.queue import ClaimedLead, Queue, Settlement
from store.ratelog import RateLog

logger = logging.getLogger("leadrelay.dispatch")


@dataclass
class Backend:
    """What the dispatcher talks to: an Engage client and its campaign directory."""

    client: Any  # engage.client.EngageClient, or the sandbox fake's client
    directory: Any  # engage.campaigns.CampaignDirectory (resolve, refresh)
    sandbox: bool
    close: Callable[[], None] = lambda: None


def identity() -> str:
    """A holder name that is unique per process and readable in the lease row."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


class DispatcherCore:
    """Everything the leader loop, the lanes and the sender share; the rooms add behaviour only."""

    LANES = ("IMMEDIATE", "NORMAL")
    NORMAL_RESERVE = Budget.NORMAL_RESERVE  # share of each rate window NORMAL leaves to hot leads

    def __init__(
        self,
        engine: Engine,
        dispatch: dict[str, Any],
        make_backend: Callable[[Lease], Backend],
        waker: Waker,
        holder: str | None = None,
        rng: random.Random | None = None,
        sources: dict[str, Any] | None = None,
        retention_days: int | None = None,
        gates: Gatekeeper | None = None,
    ) -> None:
        """`dispatch` is the validated `dispatch:` config; `make_backend` builds the Engage side once leader.

        `sources` (the configured sources) lets the leader's fetch pool complete id-only records.
        """
        dispatch = {"call_timeout": 30.0, "outage_probe_cap": 30.0, **dispatch}
        self.engine, self.cfg, self.make_backend, self.waker = engine, dispatch, make_backend, waker
        self.sources = sources or {}
        self.gates = gates  # compliance gates between claim and send (dispatch/gating.py); None: none
        self.holder = holder or identity()
        self.queue = Queue(engine)
        self.lease = Lease(engine, self.holder, dispatch["lease_seconds"])
        self.ratelog = RateLog(engine)
        self.limiter = RateLimiter(
            [(dispatch["rate_limit_10s"], 10.0), (dispatch["rate_limit_60s"], 60.0)],
            on_call=lambda: self.ratelog.record("loader"),
        )
        self.budget = Budget(
            self.limiter,
            dispatch["batch_size"],
            dispatch["normal_batch_delay"],
            dispatch.get("immediate_max_wait", Budget.IMMEDIATE_MAX_WAIT),
        )
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self.backend: Backend | None = None
        self.fates = FateLookup()
        self.holds = Holds()
        self.outcomes = Outcomes(self.queue)  # written now, or kept through a database outage
        self.housekeeping = Housekeeping(engine, self.ratelog, retention_days)
        self.state: str | None = None  # Engage's state as last published in the lease row
        # A call may take call_timeout (plus a lookup before it): only past that is a lane stuck.
        self.stuck_after = dispatch["call_timeout"] * 3 + dispatch["lease_seconds"]
        self.claim_ttl = dispatch["call_timeout"] * 3 + dispatch["lease_seconds"] * 3
        self.lane_events = {lane: waker.subscribe(lane) for lane in self.LANES}
        self.busy_since: dict[str, float | None] = dict.fromkeys(self.LANES)
        self.arrival_marks: dict[str, int | None] = dict.fromkeys(self.LANES)
        self.recheck_at = dict.fromkeys(self.LANES, 0.0)
        self.lanes_stop = threading.Event()
        # The job lane (dispatch/jobs.py): the outbox's jobs, sharing the loader's windows where Engage may.
        self.jobs = JobRunner(
            engine, self.lease, self.holder, dispatch, REGISTRY, self._job_context, self.limiter, self.rng
        )
        self.renewed_at = 0.0
        self.threads: list[threading.Thread] = []
        self.started = False

    # The hold state under the names the fault tests and the operator side know.
    @property
    def lock(self) -> threading.RLock:
        """The lock over every piece of state both lanes touch."""
        return self.holds.lock

    @property
    def campaign_holds(self) -> dict[str, float]:
        """Campaign → time of its next probe, for every open breaker."""
        return self.holds.campaign_holds

    @property
    def account_held(self) -> bool:
        """Credentials are refused: nothing is claimed."""
        return self.holds.account_held

    @property
    def outage_failures(self) -> int:
        """Failed probes of the current outage (0: Engage answers)."""
        return self.holds.outage_failures

    def _job_context(self) -> JobContext | None:
        """What job handlers use, once this leader has its Engage backend."""
        if self.backend is None:
            return None
        # Write-back kinds read the lead's source's `writeback:` (dispatch/writeback_jobs.py).
        return JobContext(self.backend, self.cfg, self.engine, extra={"sources": self.sources})

    def _backoff(self, attempts: int, cap: float | None = None) -> float:
        """The configured backoff for `attempts`, with jitter (capped at `backoff_cap` unless `cap` is given)."""
        return backoff(attempts, self.cfg["backoff_base"], self.cfg["backoff_cap"] if cap is None else cap, self.rng)

    def _store(self, epoch: int, settlements: list[Settlement]) -> int:
        """Write outcomes (kept through a database outage)."""
        return self.outcomes.store(epoch, settlements)

    # Rooms call each other through these; the composed Dispatcher gets the real ones (leader, lanes, sender).
    def _set_state(self, state: str, detail: str = "") -> None:
        """Publish Engage's state (dispatch/leader.py)."""
        raise NotImplementedError

    def _lane_loop(self, lane: str) -> None:
        """Run one lane (dispatch/lanes.py)."""
        raise NotImplementedError

    def _await_slot(self, lane: str, reserve: float) -> None:
        """Wait for a rate slot (dispatch/lanes.py)."""
        raise NotImplementedError

    def _send(self, batch: Batch, epoch: int) -> None:
        """One lead-loader call and its settling (dispatch/sender.py)."""
        raise NotImplementedError

    def _requeue(self, leads: list[ClaimedLead], epoch: int) -> None:
        """Hand claimed leads back untouched (dispatch/sender.py)."""
        raise NotImplementedError
