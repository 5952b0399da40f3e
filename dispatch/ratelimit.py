"""Lead-loader windows: hard sliding windows and what they can still carry.

The windows are 27/10 s and 110/60 s by default, under Engage's 30/120; what they can still carry is
the stall-free spacing the budget policy in dispatch/budget.py paces by.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from windows import SlidingWindow


class RateLimiter:
    """Reserve a slot before each call; a 429 pauses every call and shrinks the budget for a while."""

    def __init__(
        self,
        windows: list[tuple[int, float]],
        clock: Callable[[], float] = time.monotonic,
        on_call: Callable[[], None] | None = None,
    ) -> None:
        """`windows` is [(max_calls, seconds), ...], all of which must hold; `on_call` persists each call."""
        # Each window logs every call; a window's `limit` shrinks after a 429 and grows back.
        self.windows = [SlidingWindow(limit, span) for limit, span in windows]
        self.base = [limit for limit, _ in windows]
        self.clock = clock
        self.on_call = on_call
        self.paused_until = 0.0
        self.lock = threading.Lock()

    def preload(self, ages: list[float]) -> None:
        """Seed the windows with calls a predecessor made `ages` seconds ago (failover)."""
        with self.lock:
            now = self.clock()
            for window in self.windows:
                window.seed(now - age for age in ages)

    def _wait_time(self, now: float, reserve: float = 0.0) -> float:
        """Seconds until a call fits every window, leaving `reserve` of each window unused (lock held)."""
        wait = max(0.0, self.paused_until - now)
        for window in self.windows:
            usable = max(1, window.limit - round(window.limit * reserve))
            wait = max(wait, window.wait(now, usable))
        return wait

    def wait_time(self, reserve: float = 0.0) -> float:
        """Seconds until a call is allowed (0 when a slot is free now); `reserve` keeps a share back."""
        with self.lock:
            return self._wait_time(self.clock(), reserve)

    def sustained_rate(self) -> float:
        """Calls per second every window can carry forever (the slowest window's limit / span)."""
        with self.lock:
            return min(window.limit / window.span for window in self.windows)

    def spacing(self, extra: int = 0) -> float:
        """The smallest even spacing of calls from now on that never fills a window (seconds).

        `extra` counts hypothetical calls made now (would one more call now slow what follows?).
        For a window of L calls per S s, the k-th next call at now + k·g finds the calls newer than
        now + k·g − S still inside; at most L − k of them may be, so g ≥ (h + S − now) / k where h is
        the (L − k + 1)-th newest call. The window's own rate S / L is the floor. See
        docs/architecture.md, "A model of the windows".
        """
        with self.lock:
            now = self.clock()
            gap = 0.0
            for window in self.windows:
                limit, span = window.limit, window.span
                recent = window.recent(now) + [now] * extra
                n = len(recent)
                gap = max(gap, span / limit)
                for k in range(max(1, limit - n + 1), limit + 1):
                    h = recent[n - limit + k - 1]
                    gap = max(gap, (h + span - now) / k)
            return gap

    def since_last(self) -> float:
        """Seconds since the last reserved call (infinite when none)."""
        with self.lock:
            lasts = [last for last in (window.last() for window in self.windows) if last is not None]
            return self.clock() - max(lasts) if lasts else float("inf")

    def try_acquire(self, reserve: float = 0.0) -> float:
        """Take a slot and return 0, or return how long to wait before trying again.

        The NORMAL lane passes a reserve (a fifth of each window), so hot leads always find a slot.
        """
        with self.lock:
            now = self.clock()
            wait = self._wait_time(now, reserve)
            if wait > 0:
                return wait
            for window in self.windows:
                window.add(now)
        if self.on_call is not None:
            self.on_call()
        return 0.0

    def throttled(self, retry_after: float | None, backoff: float) -> float:
        """Engage said 429: pause every call and shrink the budget by a tenth (never below a third)."""
        with self.lock:
            pause = retry_after if retry_after is not None else backoff
            self.paused_until = max(self.paused_until, self.clock() + pause)
            for i, window in enumerate(self.windows):
                window.limit = max(1, max(self.base[i] // 3, int(window.limit * 0.9)))
            return pause

    def succeeded(self) -> None:
        """Let a shrunken budget grow back one call at a time after successes."""
        with self.lock:
            for i, window in enumerate(self.windows):
                if window.limit < self.base[i]:
                    window.limit += 1
