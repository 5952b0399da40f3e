"""The model's prediction for each traffic shape, from the real policy on a simulated clock.

The real budget policy (dispatch/budget.py) and rate windows (dispatch/ratelimit.py) are driven on a
simulated clock, with Engage answering in `call_time`.

What it leaves out (so the bench's measured numbers sit above it): the database round trips of each
decision, HTTP and thread scheduling, the client's sending jitter. docs/architecture.md, "A model of
the windows", derives the same figures on paper.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field

from dispatch.budget import HOT, NORMAL, Budget
from dispatch.ratelimit import RateLimiter
from dispatch.runner import Dispatcher

CALL_TIME = 0.006  # one lead-loader call against the fake on loopback, seconds (measured: ~4–8 ms)
DECIDE_TIME = 0.001  # one lane decision: two small queries
POLL = 1.0  # the lanes' fallback poll


@dataclass
class Loaded:
    """One simulated lead: its lane, arrival and load times (seconds on the simulated clock)."""

    lane: str
    arrived: float
    loaded: float = math.nan


@dataclass
class Outcome:
    """A simulated run: every lead and every call (time, lane, size)."""

    leads: list[Loaded]
    calls: list[tuple[float, str, int]] = field(default_factory=list)
    max_queue: int = 0

    def latencies(self, lane: str, since: float = -math.inf, until: float = math.inf) -> list[float]:
        """Seconds from arrival to load of the loaded leads of `lane` that arrived in [since, until)."""
        return [
            lead.loaded - lead.arrived
            for lead in self.leads
            if lead.lane == lane and since <= lead.arrived < until and not math.isnan(lead.loaded)
        ]


@dataclass
class _LaneSim:
    """A lane's simulated queue and loop state."""

    queue: collections.deque = field(default_factory=collections.deque)
    unseen: int = 0  # arrivals the lane has not observed yet
    newest: float = 0.0
    next_at: float = math.inf  # next decision time
    hold_until: float = 0.0  # while waiting to share, arrivals re-open the question no sooner (RECHECK)
    claimed: list = field(default_factory=list)  # leads claimed, waiting for a slot
    reserve: float = 0.0


def simulate(
    arrivals: list[tuple[float, str]],
    windows: tuple[tuple[int, float], ...] = ((27, 10.0), (110, 60.0)),
    batch: int = 50,
    normal_max_wait: float = 3.0,
    immediate_max_wait: float = 3.0,
    call_time: float = CALL_TIME,
    preload: list[float] | None = None,
    until: float | None = None,
) -> Outcome:
    """Run the policy over `arrivals` ([(time, lane)] sorted) until every lead is loaded (or `until`)."""
    now = [0.0]
    limiter = RateLimiter(list(windows), clock=lambda: now[0])
    if preload:
        limiter.preload(preload)
    budget = Budget(limiter, batch, normal_max_wait, immediate_max_wait, clock=lambda: now[0])
    leads = [Loaded(lane, at) for at, lane in arrivals]
    out = Outcome(leads)
    lanes = {HOT: _LaneSim(), NORMAL: _LaneSim()}
    end = until if until is not None else (arrivals[-1][0] if arrivals else 0.0) + 3600.0
    i = 0
    while True:
        next_arrival = leads[i].arrived if i < len(leads) else math.inf
        next_decision = min(state.next_at for state in lanes.values())
        t = min(next_arrival, next_decision)
        if t == math.inf or t > end:
            break
        now[0] = t
        if next_arrival <= next_decision:
            lead = leads[i]
            i += 1
            state = lanes[lead.lane]
            state.queue.append(lead)
            state.unseen += 1
            state.newest = t
            if not state.claimed and state.next_at > t:
                state.next_at = max(t, state.hold_until)  # the arrival wakes its lane
            out.max_queue = max(out.max_queue, sum(len(s.queue) for s in lanes.values()))
            continue
        lane = HOT if lanes[HOT].next_at <= lanes[NORMAL].next_at else NORMAL
        _decide(lane, lanes[lane], budget, limiter, batch, t, call_time, out)
    return out


def _decide(
    lane: str,
    state: _LaneSim,
    budget: Budget,
    limiter: RateLimiter,
    batch: int,
    t: float,
    call_time: float,
    out: Outcome,
) -> None:
    """One step of a lane, as Dispatcher.step does it: observe, plan, claim, take a slot, call."""
    if not state.claimed:
        due = min(len(state.queue), batch)
        oldest_age = t - state.queue[0].arrived if state.queue else 0.0
        budget.observe(lane, due, oldest_age, state.unseen, t - state.newest)
        state.unseen = 0
        plan = budget.plan(lane)
        if plan.mode == "idle":
            state.next_at = math.inf
            return
        if plan.wait > 0:
            state.next_at = t + max(DECIDE_TIME, min(plan.wait, POLL))
            state.hold_until = t + min(plan.wait, Dispatcher.RECHECK[lane])
            return
        state.claimed = [state.queue.popleft() for _ in range(min(batch, len(state.queue)))]
        state.reserve = plan.reserve
    wait = limiter.try_acquire(state.reserve)
    if wait > 0:
        state.next_at = t + min(wait, 0.25)
        return
    budget.called(lane)
    for lead in state.claimed:
        lead.loaded = t + call_time
    out.calls.append((t, lane, len(state.claimed)))
    state.claimed = []
    state.next_at = t + call_time + DECIDE_TIME


# ---------------------------------------------------------------------- the traffic shapes


def every(start: float, gap: float, count: int, lane: str) -> list[tuple[float, str]]:
    """`count` leads of `lane`, `gap` seconds apart from `start`."""
    return [(start + k * gap, lane) for k in range(count)]


def mixed(start: float, rate: float, seconds: float, hot_every: int) -> list[tuple[float, str]]:
    """`rate` leads/s for `seconds`, every `hot_every`-th one hot (the bench's open-loop generator)."""
    count = int(rate * seconds)
    return [(start + k / rate, HOT if k % hot_every == 0 else NORMAL) for k in range(count)]


def burst(start: float, count: int, seconds: float) -> list[tuple[float, str]]:
    """`count` hot leads received evenly over `seconds` (the service's receive time for the burst)."""
    return every(start, seconds / count, count, HOT)
