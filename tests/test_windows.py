"""windows.py: the one sliding window every local limiter counts with."""

from __future__ import annotations

from windows import SlidingWindow


def test_window_holds_limit_and_frees_when_the_oldest_ages_out():
    """Three per 10 s: the fourth waits until the first call is 10 s old, then fits."""
    window = SlidingWindow(3, 10.0)
    for t in (0.0, 1.0, 2.0):
        assert window.wait(t) == 0.0
        window.add(t)
    assert window.wait(5.0) == 5.0
    assert window.count(10.0) == 2 and window.wait(10.0) == 0.0


def test_window_wait_under_a_smaller_limit_and_after_seeding():
    """A reserve (smaller limit) waits for a newer call; seeded calls count like own ones."""
    window = SlidingWindow(4, 60.0)
    window.seed([30.0, 10.0, 20.0])
    assert window.recent(40.0) == [10.0, 20.0, 30.0] and window.last() == 30.0
    assert window.wait(40.0) == 0.0
    assert window.wait(40.0, limit=2) == 20.0 + 60.0 - 40.0
