"""The job lane: the outbox's runner, one thread in the dispatcher leader, with a handler registry.

A handler gets claimed jobs and says what became of each: `Done` (never sent again), `Retry`
(after Retry-After or the backoff; a 429 or an outage burns no attempt), `Unknown` (it may have
landed: the next claim runs the kind's `lookup` before anything is resent) or `Failed` (for
people). Each kind sends through an endpoint with its own sliding windows; an endpoint may share
the lead loader's windows (lead actions do: see docs/architecture.md, "The job lane"). Live jobs
(priority 0) are claimed before bulk ones (9); a shared endpoint leaves a fifth of each window to
hot leads, and takes a slot regardless once a job has waited `STARVE_AFTER` for one, so neither
side waits on the other for more than a few seconds. While an endpoint is unreachable one probe
call at a time goes out (backing off to `outage_probe_cap`); its jobs wait, burning nothing, and
go the moment it answers. Settlements the database refuses are kept and written when it answers.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from dispatch.backoff import backoff
from dispatch.ratelimit import RateLimiter
from logs import log
from store.lease import Lease
from store.outbox import DONE, FAILED, PENDING, PRIORITY_LIVE, Job, JobSettlement, Outbox

logger = logging.getLogger("leadrelay.jobs")

# A job that has waited this long for a slot of a shared window takes the next slot without
# leaving the hot leads' reserve (seconds).
STARVE_AFTER = 2.0
# The share of a shared window (the lead loader's) jobs leave to hot leads, as the NORMAL lane does.
SHARED_RESERVE = 0.2
# How often an idle job lane looks for new jobs (at most; `poll_interval` if shorter), in seconds.
JOB_POLL = 0.5


@dataclass(frozen=True)
class Done:
    """The far side accepted the job (or a lookup found it there): it is never sent again."""

    result: Any = None


@dataclass(frozen=True)
class Retry:
    """Try again later: after `after` seconds (Retry-After) or the backoff.

    `throttled` (a 429) pauses the endpoint's windows; `outage` (unreachable, 5xx before sending)
    gates the endpoint behind one probe; neither burns an attempt.
    """

    error: str
    after: float | None = None
    throttled: bool = False
    outage: bool = False


@dataclass(frozen=True)
class Unknown:
    """The call may have been carried out (a read timeout, a dropped connection, a 504): look it up first."""

    error: str


@dataclass(frozen=True)
class Failed:
    """Refused for good (a 4xx no retry changes): kept for people, the alert counts it."""

    error: str


Outcome = Done | Retry | Unknown | Failed
# A lookup's answer: True = accepted already (done), False = not there (send it), a dict = send this
# smaller payload (the rest was accepted), None = cannot tell (send it; counted as undecided).
Looked = bool | dict[str, Any] | None


@dataclass
class JobContext:
    """What handlers use: the Engage backend of the leader, the dispatch config, the engine."""

    backend: Any  # dispatch.core.Backend (client, directory, sandbox)
    cfg: dict[str, Any]
    engine: Engine
    extra: dict[str, Any] = field(default_factory=dict)  # settings a kind needs (e.g. the DNC tag)


@dataclass
class Endpoint:
    """A far-side endpoint: its windows, whether they are shared with hot leads, its outage gate."""

    name: str
    limiter: RateLimiter
    shared: bool = False  # the lead loader's windows: leave hot leads their reserve
    gate_until: float = 0.0  # monotonic; claims nothing of this endpoint before
    failures: int = 0  # failed probes of the current outage
    blocked_since: float | None = None  # monotonic: a due job has waited for a slot since
    pace: float = 0.0  # seconds between this endpoint's calls: the windows' own rate, never a burst then a stall
    last_call: float = float("-inf")  # monotonic


@dataclass
class Kind:
    """A registered job kind: how to send a batch, how to look one up, through which endpoint."""

    kind: str
    send: Callable[[list[Job], JobContext], list[Outcome]]
    endpoint: str
    lookup: Callable[[list[Job], JobContext], list[Looked]] | None = None  # one answer per job, in order
    lookup_endpoint: str | None = None
    batch: int = 1


@dataclass
class _Spec:
    """An endpoint's declaration before a runner builds its limiter."""

    windows: tuple[tuple[int, float], ...]
    shared: bool


class JobRegistry:
    """Kinds and endpoints; the runner reads it. `REGISTRY` is the process's one."""

    def __init__(self) -> None:
        """Nothing registered."""
        self.kinds: dict[str, Kind] = {}
        self.endpoints: dict[str, _Spec] = {}

    def endpoint(self, name: str, windows: Iterable[tuple[int, float]] = (), shared: bool = False) -> None:
        """Declare an endpoint with its windows [(calls, seconds)], or `shared` with the lead loader's."""
        self.endpoints[name] = _Spec(tuple(windows), shared)

    def register(
        self,
        kind: str,
        handler: Callable[[Job, JobContext], Outcome],
        *,
        endpoint: str,
        lookup: Callable[[Job, JobContext], Looked] | None = None,
        lookup_endpoint: str | None = None,
    ) -> None:
        """Register a one-job-per-call handler for `kind` (the contract's `register(kind, handler)`)."""

        def send(jobs: list[Job], ctx: JobContext) -> list[Outcome]:
            """One job, one call."""
            return [handler(jobs[0], ctx)]

        def look(jobs: list[Job], ctx: JobContext) -> list[Looked]:
            """One job, one lookup."""
            assert lookup is not None
            return [lookup(jobs[0], ctx)]

        self.register_batch(
            kind,
            send,
            endpoint=endpoint,
            lookup=look if lookup is not None else None,
            lookup_endpoint=lookup_endpoint,
            batch=1,
        )

    def register_batch(
        self,
        kind: str,
        send: Callable[[list[Job], JobContext], list[Outcome]],
        *,
        endpoint: str,
        batch: int,
        lookup: Callable[[list[Job], JobContext], list[Looked]] | None = None,
        lookup_endpoint: str | None = None,
    ) -> None:
        """Register a handler that sends up to `batch` jobs of `kind` in one call (an outcome per job, in order).

        `lookup` answers for up to `batch` unknown-fate jobs at once (one `Looked` per job, in order).
        """
        if endpoint not in self.endpoints:
            raise ValueError(f"job kind {kind!r}: declare endpoint {endpoint!r} first (JobRegistry.endpoint)")
        if lookup_endpoint is not None and lookup_endpoint not in self.endpoints:
            raise ValueError(f"job kind {kind!r}: declare lookup endpoint {lookup_endpoint!r} first")
        self.kinds[kind] = Kind(kind, send, endpoint, lookup, lookup_endpoint, max(1, batch))


REGISTRY = JobRegistry()


class JobRunner:
    """Claim → look up unknown fates → wait for a slot → send → settle, while this process leads."""

    def __init__(
        self,
        engine: Engine,
        lease: Lease,
        holder: str,
        cfg: dict[str, Any],
        registry: JobRegistry,
        context: Callable[[], JobContext | None],
        loader_limiter: RateLimiter,
        rng: random.Random | None = None,
    ) -> None:
        """`context` returns the handlers' context once the leader has its backend (None before)."""
        self.engine, self.lease, self.holder, self.cfg = engine, lease, holder, cfg
        self.registry, self.context = registry, context
        self.outbox = Outbox(engine)
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self.endpoints: dict[str, Endpoint] = {}
        for name, spec in registry.endpoints.items():
            limiter = loader_limiter if spec.shared else RateLimiter(list(spec.windows))
            pace = max((w.span / max(1, w.limit) for w in limiter.windows), default=0.0)
            self.endpoints[name] = Endpoint(name, limiter, shared=spec.shared, pace=pace)
        self.claim_ttl = cfg["call_timeout"] * 3 + cfg["lease_seconds"] * 3
        self.kept: list[tuple[int, list[JobSettlement]]] = []
        self.wake = threading.Event()
        self.busy_since: float | None = None  # a call (or a wait for its slot) in flight since
        self.undecided = 0  # jobs resent because a lookup could not tell
        self.blocked: Kind | None = None  # a due kind that waits for a slot of its endpoint

    @property
    def kinds(self) -> list[str]:
        """The registered kinds."""
        return list(self.registry.kinds)

    def run(self, stop: threading.Event) -> None:
        """Run jobs while leader until `stop`; no exception ends the loop (it logs, backs off, carries on)."""
        failures = 0
        while not stop.is_set():
            try:
                pause = self.step()
                failures = 0
            except Exception as exc:  # database gone, a bug: log, back off a little, carry on
                failures += 1
                if failures == 1 or failures % 20 == 0:
                    log(logger, logging.ERROR, "job step failed", error=repr(exc)[:300], failures=failures)
                pause = min(2.0, 0.25 * failures)
            finally:
                self.busy_since = None
            if pause > 0:
                self.wake.wait(pause)
                self.wake.clear()

    def step(self) -> float:
        """Send one batch if one is due and its endpoint lets it; return how long to idle (0: go again)."""
        poll = float(self.cfg["poll_interval"])
        epoch = self.lease.epoch
        if epoch is None or not self.kinds:
            return poll
        if self.kept and not self.flush():
            return poll
        ctx = self.context()
        if ctx is None:
            return poll
        if self.blocked is not None and self._take_blocked(epoch, ctx):
            return 0.0
        due = self.outbox.due(self.kinds, epoch)
        if not due:
            # Jobs are enqueued by other processes too (no wake-up reaches here): look twice a second.
            idle = min(poll, JOB_POLL)
            until = self.outbox.next_due_in(self.kinds)
            return idle if until is None else max(0.01, min(idle, until))
        best: dict[str, int] = {}
        for kind, priority, _count in due:
            best[kind] = min(priority, best.get(kind, priority))
        idle = poll
        now = time.monotonic()
        for kind in sorted(best, key=lambda k: (best[k], k)):
            spec = self.registry.kinds[kind]
            endpoint = self.endpoints[spec.endpoint]
            if now < endpoint.gate_until:
                idle = min(idle, endpoint.gate_until - now)
                continue
            # Take the slot now (not after the claim): a lane polling the same shared windows would
            # otherwise win every race for a freed slot while this thread talks to the database.
            wait = self._slot(endpoint, now)
            if wait > 0:
                if endpoint.blocked_since is None:
                    endpoint.blocked_since = now
                if self.blocked is None:
                    self.blocked = spec
                idle = min(idle, wait, max(0.01, endpoint.blocked_since + STARVE_AFTER - now))
                continue
            endpoint.blocked_since = None
            self.blocked = None
            self._run_kind(spec, endpoint, epoch, ctx)
            return 0.0
        return max(0.01, idle)

    def _take_blocked(self, epoch: int, ctx: JobContext) -> bool:
        """Retry the slot a due kind waited for before anything else (no database round trip first).

        A lane polling the same shared windows wakes when the slot frees just as this thread does;
        asking the database what is due first would lose it that race every time.
        """
        spec = self.blocked
        assert spec is not None
        endpoint = self.endpoints[spec.endpoint]
        now = time.monotonic()
        if now < endpoint.gate_until or self._slot(endpoint, now) > 0:
            return False
        self.blocked, endpoint.blocked_since = None, None
        self._run_kind(spec, endpoint, epoch, ctx)
        return True

    def _slot(self, endpoint: Endpoint, now: float) -> float:
        """Take a slot of `endpoint` (0) or say how long to wait: its pace first, then its windows.

        Paced at the windows' own rate (10 / 10 s: one call a second), a stream of jobs never spends a
        window in a burst and then stalls until it ages out; due jobs meanwhile ride the next call.
        """
        paced = endpoint.last_call + endpoint.pace - now
        if paced > 0:
            return paced
        wait = endpoint.limiter.try_acquire(self._reserve(endpoint, now))
        if wait <= 0:
            endpoint.last_call = now
        return wait

    def _reserve(self, endpoint: Endpoint, now: float) -> float:
        """The share of a shared window left to hot leads, dropped once a job has starved for a slot."""
        if not endpoint.shared:
            return 0.0
        if endpoint.blocked_since is not None and now - endpoint.blocked_since >= STARVE_AFTER:
            return 0.0
        return SHARED_RESERVE

    def _run_kind(self, spec: Kind, endpoint: Endpoint, epoch: int, ctx: JobContext) -> None:
        """Claim a batch of one kind, resolve unknown fates, send the rest, settle everything."""
        self.busy_since = time.monotonic()
        jobs = self.outbox.claim(epoch, self.holder, [spec.kind], spec.batch, self.claim_ttl)
        if not jobs:
            return
        settlements: list[JobSettlement] = []
        poison = [j for j in jobs if j.claims > self.cfg["max_claims"]]
        for job in poison:
            settlements.append(JobSettlement(job.id, FAILED, error="claimed too often without settling (poison job)"))
        live = [j for j in jobs if j.claims <= self.cfg["max_claims"]]
        unsure = [j for j in live if j.unknown_fate and spec.lookup is not None]
        to_send = [j for j in live if not (j.unknown_fate and spec.lookup is not None)]
        shares_slot = spec.lookup_endpoint in (None, spec.endpoint)
        if unsure:
            looked, resend = self._lookup(spec, unsure, ctx, slot=shares_slot)
            settlements += looked
            to_send += resend
        if to_send:
            if self.lease.epoch != epoch:
                # Leadership lost while looking up: hand the rest back untouched (fenced anyway).
                settlements += [JobSettlement(j.id, PENDING, count_attempt=False) for j in to_send]
            else:
                # The slot taken in `step` pays for this call unless a lookup on the same endpoint spent it.
                settlements += self._send(spec, endpoint, to_send, ctx, slot=not (unsure and shares_slot))
        self._settle(epoch, settlements, jobs)

    def _lookup(
        self, spec: Kind, jobs: list[Job], ctx: JobContext, slot: bool
    ) -> tuple[list[JobSettlement], list[Job]]:
        """Ask the far side whether unknown-fate jobs landed: settlements (done, or wait) and the jobs to send.

        `slot`: the lookup spends the slot already taken on the kind's own endpoint.
        """
        assert spec.lookup is not None
        if not slot and spec.lookup_endpoint is not None:
            self._await(self.endpoints[spec.lookup_endpoint])
        try:
            answers = spec.lookup(jobs, ctx)
            if len(answers) != len(jobs):
                raise RuntimeError(f"lookup of {spec.kind} answered {len(answers)} times for {len(jobs)} jobs")
        except Exception as exc:  # the lookup itself failed: keep the fate unknown and try later
            log(logger, logging.WARNING, "job lookup failed", kind=spec.kind, jobs=len(jobs), error=repr(exc)[:300])
            # Nothing is resent until a lookup answers: the far side is probed like an outage meanwhile.
            self._outage(self.endpoints[spec.lookup_endpoint or spec.endpoint])
            wait = [
                JobSettlement(
                    j.id,
                    PENDING,
                    delay=self._backoff(j.attempts),
                    error=f"lookup failed: {exc}"[:500],
                    unknown_fate=True,
                    count_attempt=False,
                )
                for j in jobs
            ]
            return wait, []
        done: list[JobSettlement] = []
        resend: list[Job] = []
        for job, looked in zip(jobs, answers, strict=True):
            if looked is True:
                log(logger, logging.INFO, "job found at the far side; not resent", job=job.id, kind=job.kind)
                done.append(JobSettlement(job.id, DONE, result={"found_by_lookup": True}))
                continue
            if isinstance(looked, dict):
                job.payload = looked
            elif looked is None:
                self.undecided += 1
                log(logger, logging.WARNING, "job fate undecided; resending", job=job.id, kind=job.kind)
            resend.append(job)
        return done, resend

    def _await(self, endpoint: Endpoint) -> None:
        """Wait for a slot of `endpoint` (keeping hot leads' reserve unless a job starves)."""
        while True:
            now = time.monotonic()
            wait = self._slot(endpoint, now)
            if wait <= 0:
                endpoint.blocked_since = None
                return
            if endpoint.blocked_since is None:
                endpoint.blocked_since = now
            self.busy_since = None  # waiting for a slot is progress, not a hung call (the lease keeps renewing)
            time.sleep(min(wait, 0.25))
            self.busy_since = time.monotonic()

    def _send(
        self, spec: Kind, endpoint: Endpoint, jobs: list[Job], ctx: JobContext, slot: bool
    ) -> list[JobSettlement]:
        """One call for the batch (`slot`: its slot is taken already); each job settled by its own outcome."""
        if not slot:
            self._await(endpoint)
        self.busy_since = time.monotonic()
        try:
            outcomes = spec.send(jobs, ctx)
            if len(outcomes) != len(jobs):
                raise RuntimeError(f"handler of {spec.kind} returned {len(outcomes)} outcomes for {len(jobs)} jobs")
        except Exception as exc:  # a bug or an unmapped error: it may have been sent, so look it up next time
            log(logger, logging.ERROR, "job handler raised", kind=spec.kind, error=repr(exc)[:300])
            return [
                JobSettlement(
                    j.id,
                    PENDING,
                    delay=self._backoff(j.attempts),
                    error=f"handler raised: {exc!r}"[:500],
                    unknown_fate=True,
                    crashed=True,
                )
                for j in jobs
            ]
        return [self._settlement(endpoint, job, outcome) for job, outcome in zip(jobs, outcomes, strict=True)]

    def _settlement(self, endpoint: Endpoint, job: Job, outcome: Outcome) -> JobSettlement:
        """Turn a handler's outcome into the stored settlement and the endpoint's state."""
        if isinstance(outcome, Done):
            self._answered(endpoint)
            endpoint.limiter.succeeded()
            return JobSettlement(job.id, DONE, result=outcome.result)
        if isinstance(outcome, Failed):
            self._answered(endpoint)
            log(logger, logging.ERROR, "job failed for good", job=job.id, kind=job.kind, error=outcome.error[:300])
            return JobSettlement(job.id, FAILED, error=outcome.error)
        if isinstance(outcome, Unknown):
            self._outage(endpoint)
            return JobSettlement(job.id, PENDING, error=outcome.error, unknown_fate=True, count_attempt=False)
        if outcome.throttled:
            pause = endpoint.limiter.throttled(outcome.after, self._backoff(job.attempts))
            log(logger, logging.WARNING, "job throttled", endpoint=endpoint.name, pause=round(pause, 2))
            return JobSettlement(job.id, PENDING, error=outcome.error, count_attempt=False)
        if outcome.outage:
            self._outage(endpoint)
            return JobSettlement(job.id, PENDING, error=outcome.error, count_attempt=False)
        self._answered(endpoint)
        delay = outcome.after if outcome.after is not None else self._backoff(job.attempts)
        return JobSettlement(job.id, PENDING, delay=delay, error=outcome.error)

    def _outage(self, endpoint: Endpoint) -> None:
        """One more failed probe: gate the endpoint (its jobs wait, due, for the next probe)."""
        endpoint.failures += 1
        delay = backoff(endpoint.failures - 1, 1.0, float(self.cfg["outage_probe_cap"]), self.rng)
        endpoint.gate_until = max(endpoint.gate_until, time.monotonic() + delay)
        if endpoint.failures == 1 or endpoint.failures % 10 == 0:
            log(
                logger,
                logging.WARNING,
                "job endpoint unavailable; probing",
                endpoint=endpoint.name,
                failures=endpoint.failures,
                probe_in=round(delay, 2),
            )

    def _answered(self, endpoint: Endpoint) -> None:
        """The endpoint answered: lift its outage gate."""
        if endpoint.failures:
            log(logger, logging.INFO, "job endpoint answers again", endpoint=endpoint.name, after=endpoint.failures)
        endpoint.failures, endpoint.gate_until = 0, 0.0

    def _backoff(self, attempts: int) -> float:
        """The project's backoff for a job's `attempts`, with jitter."""
        return backoff(attempts, float(self.cfg["backoff_base"]), float(self.cfg["backoff_cap"]), self.rng)

    def _settle(self, epoch: int, settlements: list[JobSettlement], jobs: list[Job] | None = None) -> None:
        """Write settlements; if the database is away, keep them (in order) for `flush`.

        `jobs` name each settlement's kind and leads (payload `lead_ids`) for the leads' timelines.
        """
        if not settlements:
            return
        by_id = {job.id: job for job in jobs or []}
        for s in settlements:
            job = by_id.get(s.id)
            if job is not None:
                s.kind = job.kind
                s.lead_ids = [int(i) for i in job.payload.get("lead_ids") or [] if str(i).isdigit()]
        try:
            self.outbox.settle(epoch, settlements)
        except Exception as exc:
            self.kept.append((epoch, settlements))
            log(
                logger,
                logging.ERROR,
                "could not record job outcomes; kept until the database answers",
                error=repr(exc)[:300],
                jobs=[s.id for s in settlements],
            )

    def flush(self) -> bool:
        """Write kept settlements; True when none are left (each fenced by its own epoch)."""
        pending, self.kept = self.kept, []
        for i, (epoch, settlements) in enumerate(pending):
            try:
                self.outbox.settle(epoch, settlements)
            except Exception:
                self.kept[:0] = pending[i:]
                return False
        if pending:
            log(logger, logging.INFO, "job outcomes recorded after the database returned", jobs=len(pending))
        return True


__all__ = [
    "PRIORITY_LIVE",
    "REGISTRY",
    "Done",
    "Failed",
    "JobContext",
    "JobRegistry",
    "JobRunner",
    "Looked",
    "Outcome",
    "Retry",
    "Unknown",
]
