"""Sliding-window limiter for the lead loader (30/10 s and 120/60 s documented; headroom below)."""
from __future__ import annotations

import collections
import threading
import time


class RateLimiter:
    """Reserve a call slot before each lead-loader call; a 429 pauses and shrinks the budget."""

    def __init__(self, windows: list[tuple[int, float]], clock=time.monotonic):
        """`windows` is [(max_calls, seconds), ...], all of which must hold."""
        self.windows = [[limit, span] for limit, span in windows]
        self.base = [limit for limit, _ in windows]
        self.clock = clock
        self.calls: collections.deque[float] = collections.deque()
        self.paused_until = 0.0
        self.lock = threading.Lock()

    def wait_time(self) -> float:
        """Seconds until a call is allowed (0 when a slot is free now)."""
        with self.lock:
            return self._wait_time(self.clock())

    def _wait_time(self, now: float) -> float:
        """Compute the wait with the lock held."""
        longest = max(span for _, span in self.windows)
        while self.calls and self.calls[0] <= now - longest:
            self.calls.popleft()
        wait = max(0.0, self.paused_until - now)
        for limit, span in self.windows:
            recent = [t for t in self.calls if t > now - span]
            if len(recent) >= limit:
                # The oldest call inside the window must age out before another fits.
                wait = max(wait, recent[len(recent) - limit] + span - now)
        return wait

    def try_acquire(self) -> float:
        """Take a slot and return 0, or return how long to wait before trying again."""
        with self.lock:
            now = self.clock()
            wait = self._wait_time(now)
            if wait <= 0:
                self.calls.append(now)
            return wait

    def throttled(self, retry_after: float | None, backoff: float) -> float:
        """Engage said 429: pause every call and shrink the budget by a tenth (never below a third)."""
        with self.lock:
            pause = retry_after if retry_after is not None else backoff
            self.paused_until = max(self.paused_until, self.clock() + pause)
            for i, window in enumerate(self.windows):
                window[0] = max(1, max(self.base[i] // 3, int(window[0] * 0.9)))
            return pause

    def succeeded(self) -> None:
        """Let a shrunken budget grow back one call at a time after successes."""
        with self.lock:
            for i, window in enumerate(self.windows):
                if window[0] < self.base[i]:
                    window[0] += 1
