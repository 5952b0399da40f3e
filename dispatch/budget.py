"""The budget policy: when a lane's batch goes now and when it waits to share a call.

Engage's windows (dispatch/ratelimit.py) say what is allowed; this says what is worth it. A hot lead
goes out at once while traffic is sparse enough for the windows to carry one call per lead; when
leads arrive faster, they share calls (a burst rides full batches), each lane paced at its share of
what the windows can carry without stalling. The model behind the numbers is in docs/architecture.md,
"A model of the windows"; bench/model.py runs this class on a simulated clock to predict each shape.
"""

from __future__ import annotations

import collections
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from dispatch.ratelimit import RateLimiter

HOT, NORMAL = "IMMEDIATE", "NORMAL"


@dataclass(frozen=True)
class Plan:
    """What a lane should do now: wait `wait` seconds (0: send now) and leave `reserve` of each window."""

    wait: float
    reserve: float
    mode: str  # idle | window | full | eager | share | quiet | fill | free | paced  (for logs and tests)


@dataclass
class _Lane:
    """What the policy knows about one lane: its due leads, arrivals and calls (monotonic seconds)."""

    due: int = 0
    oldest: float | None = None  # receipt of the oldest due lead
    newest: float | None = None  # receipt of the newest lead seen arriving
    arrivals: collections.deque[tuple[float, int]] = field(default_factory=collections.deque)  # (seen at, count)
    calls: collections.deque[float] = field(default_factory=collections.deque)  # call times
    last_call: float = -math.inf


class Budget:
    """Spend the rate windows where they buy speed; one instance per dispatcher, shared by both lanes."""

    IMMEDIATE_MAX_WAIT = 3.0  # default bound on a hot lead's wait to share a call (dispatch.immediate_max_wait)
    NORMAL_RESERVE = 0.2  # share of each window NORMAL leaves free when it spends at will
    EAGER_FACTOR = 2.0  # a hot lead goes alone while arrivals ≤ 2 × the short window's call rate …
    EAGER_SLACK = 1.5  # … and the call leaves the windows able to carry 1 / 1.5 of their full rate
    ARRIVAL_HORIZONS = (0.5, 2.0)  # seconds of arrivals that tell a stream from a burst (the faster wins)
    NEED_HORIZON = 10.0  # seconds of arrivals and calls behind the lanes' shares
    HEADROOM = 1.1  # NORMAL's need is met with a tenth to spare, so its queue drains
    HOT_SHARE = 2 / 3  # when NORMAL cannot keep up anyway: hot leads first, NORMAL keeps a third
    QUIET_GAPS = 4.0  # a burst is over after 4 mean arrival gaps without a lead …
    QUIET_MIN, QUIET_MAX = 0.02, 0.25  # … within these bounds (seconds)
    QUIET_SPACING = 0.5  # … and half a stall-free spacing after the lane's last call

    def __init__(
        self,
        limiter: RateLimiter,
        batch_size: int,
        normal_max_wait: float,
        immediate_max_wait: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """`normal_max_wait` bounds a NORMAL partial batch's wait; `immediate_max_wait` a hot lead's."""
        self.limiter, self.batch, self.clock = limiter, batch_size, clock
        self.normal_max_wait, self.immediate_max_wait = normal_max_wait, immediate_max_wait
        self.lanes = {HOT: _Lane(), NORMAL: _Lane()}
        self.lock = threading.Lock()

    # ------------------------------------------------------------------ inputs

    def observe(self, lane: str, due: int, oldest_age: float, arrived: int = 0, newest_age: float = 0.0) -> None:
        """Record a lane's queue: `due` leads (the oldest `oldest_age` s old) and `arrived` new ones since last time."""
        self.observe_arrivals(lane, arrived, newest_age)
        self.observe_queue(lane, due, oldest_age)

    def observe_arrivals(self, lane: str, arrived: int, newest_age: float = 0.0) -> None:
        """Record `arrived` new leads of `lane` since the last look, the newest `newest_age` s old."""
        with self.lock:
            now, state = self.clock(), self.lanes[lane]
            if arrived:
                state.arrivals.append((now, arrived))
                state.newest = now - max(0.0, newest_age)
            self._trim(state, now)

    def observe_queue(self, lane: str, due: int, oldest_age: float) -> None:
        """Record `due` leads of `lane` claimable now, the oldest `oldest_age` s old."""
        with self.lock:
            state = self.lanes[lane]
            state.due = due
            state.oldest = self.clock() - max(0.0, oldest_age) if due else None

    def called(self, lane: str) -> None:
        """A call of `lane` took a rate slot now."""
        with self.lock:
            now, state = self.clock(), self.lanes[lane]
            state.calls.append(now)
            state.last_call = now
            self._trim(state, now)

    def _trim(self, state: _Lane, now: float) -> None:
        """Forget arrivals and calls older than the longest horizon (lock held)."""
        for log in (state.arrivals, state.calls):
            while log and (log[0][0] if isinstance(log[0], tuple) else log[0]) <= now - self.NEED_HORIZON:
                log.popleft()

    def arrival_rate(self, lane: str, horizon: float) -> float:
        """Leads per second that arrived in `lane` over the last `horizon` seconds."""
        with self.lock:
            return self._arrival_rate(self.lanes[lane], self.clock(), horizon)

    @staticmethod
    def _arrival_rate(state: _Lane, now: float, horizon: float) -> float:
        """Leads per second over the last `horizon` seconds (lock held)."""
        total, since = 0, now - horizon
        for at, n in reversed(state.arrivals):  # newest first: stop at the horizon
            if at <= since:
                break
            total += n
        return total / horizon

    # ------------------------------------------------------------------ shares

    def hot_share(self) -> float:
        """The share of the calls the hot lane may take when it has to share them."""
        with self.lock:
            return self._hot_share(self.clock())

    def _normal_need(self, now: float) -> float:
        """Calls per second NORMAL's arrivals need in full batches, with a tenth to spare."""
        state = self.lanes[NORMAL]
        # Not the 0.5-s horizon: NORMAL looks only every 50 ms to 1 s, so its counts come in lumps.
        rate = max(self._arrival_rate(state, now, h) for h in (self.ARRIVAL_HORIZONS[-1], self.NEED_HORIZON))
        return self.HEADROOM * rate / self.batch

    def _normal_fits(self, now: float) -> bool:
        """Whether NORMAL's need still leaves the hot lane a call every `immediate_max_wait`."""
        return self._normal_need(now) + 1.0 / self.immediate_max_wait <= self.limiter.sustained_rate()

    def _hot_share(self, now: float) -> float:
        """The hot lane's share of the windows' sustained rate (0..1).

        NORMAL gets what its arrivals need (plus a tenth) when that still leaves a hot call every
        `immediate_max_wait`; the hot lane takes the rest. When NORMAL cannot keep up anyway, hot leads
        take two thirds and NORMAL the floor third (its backlog drains once the traffic stops).
        """
        rate = self.limiter.sustained_rate()
        if self._normal_fits(now):
            return max(1.0 / self.immediate_max_wait, rate - self._normal_need(now)) / rate
        return self.HOT_SHARE

    def _normal_share(self, now: float) -> float:
        """NORMAL's share of the windows' sustained rate (0..1).

        NORMAL leaves the hot lane its share while hot leads are arriving; otherwise it may take what
        the hot lane has not been using (never less than a third).
        """
        hot = self.lanes[HOT]
        share = self._hot_share(now)
        if hot.due == 0 and self._arrival_rate(hot, now, self.ARRIVAL_HORIZONS[-1]) == 0:
            calls = sum(1 for at in hot.calls if at > now - self.NEED_HORIZON) / self.NEED_HORIZON
            share = min(share, calls / self.limiter.sustained_rate())
        return max(1.0 - self.HOT_SHARE, 1.0 - share)

    def _quiet_gap(self, rate: float) -> float:
        """How long without an arrival means the burst is over."""
        if rate <= 0:
            return self.QUIET_MIN
        return min(self.QUIET_MAX, max(self.QUIET_MIN, self.QUIET_GAPS / rate))

    # ------------------------------------------------------------------ decisions

    def plan(self, lane: str) -> Plan:
        """Decide for `lane` from what was last observed: send now (wait 0) or wait how long."""
        with self.lock:
            now = self.clock()
            return self._plan_hot(now) if lane == HOT else self._plan_normal(now)

    def eager(self, lane: str) -> bool:
        """Whether a hot lead would go at once whatever the queue holds (then the lane need not count it)."""
        if lane != HOT:
            return False
        with self.lock:
            return self.limiter.wait_time(0.0) <= 0 and self._sparse(self.clock())

    def _sparse(self, now: float) -> bool:
        """Hot arrivals are slow enough for one call each, and one more call leaves the windows relaxed."""
        arrivals = max(self._arrival_rate(self.lanes[HOT], now, h) for h in self.ARRIVAL_HORIZONS)
        short_rate = max(window.limit / window.span for window in self.limiter.windows)
        return arrivals <= self.EAGER_FACTOR * short_rate and self._eager_ok(1.0 / self.limiter.sustained_rate())

    def _eager_ok(self, floor_gap: float) -> bool:
        """One more call now still leaves the windows able to carry 1 / EAGER_SLACK of their full rate."""
        return self.limiter.spacing(extra=1) <= self.EAGER_SLACK * floor_gap

    def _plan_hot(self, now: float) -> Plan:
        """Full batches go at once; a partial one goes alone while sparse, else shares a paced call."""
        state = self.lanes[HOT]
        if state.due == 0:
            return Plan(math.inf, 0.0, "idle")
        hard = self.limiter.wait_time(0.0)
        if hard > 0:
            return Plan(hard, 0.0, "window")  # leads keep arriving meanwhile: the call will be bigger
        if state.due >= self.batch:
            return Plan(0.0, 0.0, "full")
        if self._sparse(now):
            return Plan(0.0, 0.0, "eager")
        arrivals = max(self._arrival_rate(state, now, h) for h in self.ARRIVAL_HORIZONS)
        # Sharing: the lane's paced slot, the end of the burst (when affordable) or the bound, first.
        spacing = self.limiter.spacing()
        due_at = min(state.last_call + spacing / self._hot_share(now), (state.oldest or now) + self.immediate_max_wait)
        mode = "share"
        # Arrivals paused (the burst is over): waiting buys nothing, so go if a fifth of each window is
        # left — but not sooner than half a spacing after the lane's last call: a busy service receives
        # in lumps, and a lull inside a burst must not spend the window on small calls.
        if state.newest is not None and self.limiter.wait_time(self.NORMAL_RESERVE) <= 0:
            quiet_at = max(state.newest + self._quiet_gap(arrivals), state.last_call + self.QUIET_SPACING * spacing)
            if quiet_at < due_at:
                due_at, mode = quiet_at, "quiet"
        return Plan(max(0.0, due_at - now), 0.0, mode)

    def _plan_normal(self, now: float) -> Plan:
        """NORMAL's plan: a full batch (or a partial one after `normal_max_wait`), at will or paced.

        NORMAL rides full batches or waits `normal_max_wait`; it spends at will only while the windows
        are relaxed (leaving the hot lane's reserve), otherwise it is paced at its share.
        """
        state = self.lanes[NORMAL]
        if state.due == 0:
            return Plan(math.inf, self.NORMAL_RESERVE, "idle")
        if state.due < self.batch and state.oldest is not None:
            ready_at = state.oldest + self.normal_max_wait
            if ready_at > now:
                return Plan(ready_at - now, self.NORMAL_RESERVE, "fill")
        # At will only while NORMAL's traffic fits: spending ahead on a flood would starve hot leads later.
        if (
            self._normal_fits(now)
            and self._eager_ok(1.0 / self.limiter.sustained_rate())
            and self.limiter.wait_time(self.NORMAL_RESERVE) <= 0
        ):
            return Plan(0.0, self.NORMAL_RESERVE, "free")
        # Paced: the windows are busy, so NORMAL takes its share and the hot lane keeps the rest.
        due_at = state.last_call + self.limiter.spacing() / self._normal_share(now)
        wait = max(due_at - now, self.limiter.wait_time(0.0))
        return Plan(max(0.0, wait), 0.0, "paced")
