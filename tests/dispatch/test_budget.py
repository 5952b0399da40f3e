"""The budget policy on a clock the test controls: when a batch goes now and when it shares a call.

Speed targets live in the bench (bench/shapes.py); these check the decisions and the shapes' invariants
on the simulated clock (bench/model.py runs the real Budget and RateLimiter classes)."""

from __future__ import annotations

import math

import pytest

from bench.model import burst, every, mixed, simulate
from dispatch.budget import HOT, NORMAL, Budget
from dispatch.ratelimit import RateLimiter

WINDOWS = [(27, 10.0), (110, 60.0)]


class Clock:
    """A clock that moves only when told."""

    def __init__(self, now: float = 1000.0):
        """Start at `now`."""
        self.now = now

    def __call__(self) -> float:
        """The current time."""
        return self.now


def make(clock: Clock, normal_max_wait: float = 3.0) -> tuple[RateLimiter, Budget]:
    """A limiter and a budget on `clock` with the default windows and batch size."""
    limiter = RateLimiter(WINDOWS, clock=clock)
    return limiter, Budget(limiter, 50, normal_max_wait, 3.0, clock=clock)


def windows_held(calls: list[tuple[float, str, int]]) -> bool:
    """No 10-s span holds more than 27 calls and no 60-s span more than 110."""
    times = sorted(t for t, _, _ in calls)
    for limit, span in WINDOWS:
        for i in range(len(times) - limit):
            if times[i + limit] - times[i] < span - 1e-9:  # exactly one span apart is allowed
                return False
    return True


# ---------------------------------------------------------------------- the windows' spacing


def test_spacing_of_an_empty_window_is_the_slowest_windows_rate():
    """No calls: the 60-s window's 60/110 s is the spacing a stream could keep forever."""
    limiter, _ = make(Clock())
    assert limiter.spacing() == pytest.approx(60 / 110)
    assert limiter.sustained_rate() == pytest.approx(110 / 60)


def test_spacing_grows_when_calls_crowd_the_short_window():
    """20 calls in the last second: the next 7 must spread until they age out (no stall), so ≈ 9/8 s."""
    clock = Clock()
    limiter, _ = make(clock)
    limiter.preload([1.0 - k * 0.05 for k in range(20)])
    # k = 8 more calls may start only when the oldest (1 s old) leaves the 10-s window: (10 - 1) / 8.
    assert limiter.spacing() == pytest.approx(9 / 8)
    assert limiter.spacing(extra=1) > limiter.spacing()


# ---------------------------------------------------------------------- single decisions


def test_lone_hot_lead_goes_at_once_even_when_the_window_is_a_quarter_used():
    """The reported defect: a quarter-used window used to pace a lone hot lead 0.56 s; now it goes at once."""
    clock = Clock()
    limiter, budget = make(clock)
    limiter.preload([0.05 + 0.4 * k for k in range(10)])  # a hot stream's last 4 s
    budget.observe(HOT, due=1, oldest_age=0.0, arrived=1)
    plan = budget.plan(HOT)
    assert (plan.wait, plan.mode) == (0.0, "eager")


def test_burst_arrivals_share_calls_and_a_full_batch_goes_at_once():
    """300 leads/s: a partial batch waits (sharing); 50 due go at once; after the burst, the rest goes."""
    clock = Clock()
    _, budget = make(clock)
    budget.called(HOT)
    budget.observe(HOT, due=20, oldest_age=0.06, arrived=20)
    clock.now += 0.01
    budget.observe(HOT, due=23, oldest_age=0.07, arrived=3)
    plan = budget.plan(HOT)
    assert plan.mode in ("share", "quiet") and 0 < plan.wait < 0.55  # until a slot, or the burst ends
    budget.observe(HOT, due=50, oldest_age=0.17, arrived=27)
    assert budget.plan(HOT).mode == "full"
    budget.called(HOT)
    clock.now += 0.05  # a lull inside the burst, right after a call: keep filling
    budget.observe(HOT, due=12, oldest_age=0.05, arrived=12, newest_age=0.04)
    assert budget.plan(HOT).wait > 0
    clock.now += 0.3  # nothing new for 0.34 s at 300/s: the burst is over
    budget.observe(HOT, due=12, oldest_age=0.35, arrived=0)
    assert budget.plan(HOT).wait == 0.0


def test_hot_lead_waits_no_longer_than_immediate_max_wait():
    """Even when sharing, the oldest hot lead's wait is bounded."""
    clock = Clock()
    _, budget = make(clock)
    budget.observe(HOT, due=5, oldest_age=0.0, arrived=40)  # 40 in an instant: sharing
    budget.called(HOT)
    plan = budget.plan(HOT)
    assert plan.mode in ("share", "quiet") and plan.wait <= 3.0


def test_normal_partial_batch_waits_for_its_timer_then_goes_without_the_hot_reserve():
    """NORMAL: 10 due wait normal_max_wait from the oldest; then it goes, leaving a fifth of each window."""
    clock = Clock()
    _, budget = make(clock, normal_max_wait=2.0)
    budget.observe(NORMAL, due=10, oldest_age=0.5, arrived=10)
    plan = budget.plan(NORMAL)
    assert plan.mode == "fill" and plan.wait == pytest.approx(1.5)
    clock.now += 1.5
    budget.observe(NORMAL, due=10, oldest_age=2.0)
    plan = budget.plan(NORMAL)
    assert (plan.wait, plan.mode, plan.reserve) == (0.0, "free", Budget.NORMAL_RESERVE)


def test_idle_lane_says_idle():
    """Nothing due: idle (the lane sleeps until a lead wakes it or the poll)."""
    _, budget = make(Clock())
    assert budget.plan(HOT).mode == "idle" and budget.plan(NORMAL).mode == "idle"
    assert math.isinf(budget.plan(HOT).wait)


def test_shares_follow_normal_traffic():
    """NORMAL that fits gets its need (+10 %); a flood leaves it the floor third and hot leads two thirds."""
    clock = Clock()
    _, budget = make(clock)
    for _ in range(10):  # 40/s for 10 s
        clock.now += 1.0
        budget.observe(NORMAL, due=50, oldest_age=0.0, arrived=40)
    assert budget.hot_share() == pytest.approx(1 - 1.1 * 0.8 / (110 / 60))
    for _ in range(10):  # 180/s: more than the windows can carry
        clock.now += 1.0
        budget.observe(NORMAL, due=50, oldest_age=0.0, arrived=180)
    assert budget.hot_share() == pytest.approx(2 / 3)


# ---------------------------------------------------------------------- the shapes on the simulated clock


def test_hot_stream_never_waits():
    """One hot lead every 0.4 s for 12 s: each goes alone the moment it arrives."""
    out = simulate(every(0.0, 0.4, 30, HOT))
    assert max(out.latencies(HOT)) < 0.01 and len(out.calls) == 30 and windows_held(out.calls)


def test_burst_rides_full_batches():
    """600 hot leads in 2 s: a couple of lone calls, then full batches; every lead within 0.5 s."""
    out = simulate(burst(0.0, 600, 2.0))
    assert len(out.calls) <= 15 and max(out.latencies(HOT)) < 0.5 and windows_held(out.calls)


def test_stream_then_burst_carries_the_burst():
    """The stream leaves the short window nearly spent; the burst still rides full batches as slots free."""
    out = simulate(every(0.0, 0.4, 30, HOT) + burst(12.0, 600, 2.0))
    assert max(out.latencies(HOT, until=12.0)) < 0.01
    assert max(out.latencies(HOT, since=12.0)) < 4.0 and windows_held(out.calls)
    assert sum(n for t, _, n in out.calls if t >= 12.0) == 600


def test_hot_under_load_goes_alone_and_normal_rides_batches():
    """40 NORMAL/s + 1 hot/s: hot leads never wait; every NORMAL lead within normal_max_wait + a batch."""
    out = simulate(sorted(mixed(0.0, 41, 20.0, 41)))
    assert max(out.latencies(HOT)) < 0.01
    assert max(out.latencies(NORMAL)) < 3.5 and windows_held(out.calls)


def test_flood_gives_hot_leads_two_thirds_and_normal_never_starves():
    """200/s, 10 % hot, 60 s: hot p50 under 0.5 s; NORMAL keeps ≥ a third of the calls and then drains."""
    out = simulate(sorted(mixed(0.0, 200, 60.0, 10)))
    hot = sorted(out.latencies(HOT))
    assert hot[len(hot) // 2] < 0.5 and hot[int(len(hot) * 0.99)] < 1.5
    during = [lane for t, lane, _ in out.calls if 5.0 <= t < 60.0]
    assert during.count(NORMAL) >= len(during) / 3 - 1
    assert all(not math.isnan(lead.loaded) for lead in out.leads)  # the backlog drained: none starved
    after = [t for t, lane, _ in out.calls if t > 75.0]
    assert (len(after) - 1) / (after[-1] - after[0]) > 0.95 * 110 / 60  # drains at the full allowed rate
    assert windows_held(out.calls)


def test_sustained_stream_keeps_the_queue_bounded():
    """73 leads/s, 10 % hot (80 % of 110 calls/min × 50), 2 simulated minutes: the queue stays small."""
    out = simulate(sorted(mixed(0.0, 73, 120.0, 10)))
    assert out.max_queue < 200 and windows_held(out.calls)
    assert max(out.latencies(NORMAL)) < 5.0
