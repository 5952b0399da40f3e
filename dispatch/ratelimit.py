"""Lead-loader windows: hard sliding windows and what they can still carry.

The windows are 27/10 s and 110/60 s by default, under Engage's 30/120; what they can still carry is
the stall-free spacing the budget policy in dispatch/budget.py paces by.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class Window:
    """One sliding window: at most `limit` calls in any `span` seconds (`limit` shrinks after a 429)."""

    limit: int
    span: float


class RateLimiter:
    """Reserve a slot before each call; a 429 pauses every call and shrinks the budget for a while."""

    def __init__(
        self,
        windows: list[tuple[int, float]],
        clock: Callable[[], float] = time.monotonic,
        on_call: Callable[[], None] | None = None,
    ) -> None:
        """`windows` is [(max_calls, seconds), ...], all of which must hold; `on_call` persists each call."""
        self.windows = [Window(limit, span) for limit, span in windows]
        self.base = [limit for limit, _ in windows]
        self.clock = clock
        self.on_call = on_call
        self.calls: collections.deque[float] = collections.deque()
        self.paused_until = 0.0
        self.lock = threading.Lock()

    def preload(self, ages: list[float]) -> None:
        """Seed the windows with calls a predecessor made `ages` seconds ago (failover)."""
        with self.lock:
            now = self.clock()
            self.calls = collections.deque(sorted(now - age for age in ages))

    def _trim(self, now: float) -> None:
        """Forget calls older than the longest window."""
        longest = max(window.span for window in self.windows)
        while self.calls and self.calls[0] <= now - longest:
            self.calls.popleft()

    def _wait_time(self, now: float, reserve: float = 0.0) -> float:
        """Seconds until a call fits every window, leaving `reserve` of each window unused (lock held)."""
        self._trim(now)
        wait = max(0.0, self.paused_until - now)
        for window in self.windows:
            limit, span = window.limit, window.span
            usable = max(1, limit - round(limit * reserve))
            recent = [t for t in self.calls if t > now - span]
            if len(recent) >= usable:
                # The oldest call inside the window must age out before another fits.
                wait = max(wait, recent[len(recent) - usable] + span - now)
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
            self._trim(now)
            gap = 0.0
            for window in self.windows:
                limit, span = window.limit, window.span
                recent = [t for t in self.calls if t > now - span] + [now] * extra
                n = len(recent)
                gap = max(gap, span / limit)
                for k in range(max(1, limit - n + 1), limit + 1):
                    h = recent[n - limit + k - 1]
                    gap = max(gap, (h + span - now) / k)
            return gap

    def since_last(self) -> float:
        """Seconds since the last reserved call (infinite when none)."""
        with self.lock:
            return self.clock() - self.calls[-1] if self.calls else float("inf")

    def try_acquire(self, reserve: float = 0.0) -> float:
        """Take a slot and return 0, or return how long to wait before trying again.

        The NORMAL lane passes a reserve (a fifth of each window), so hot leads always find a slot.
        """
        with self.lock:
            now = self.clock()
            wait = self._wait_time(now, reserve)
            if wait > 0:
                return wait
            self.calls.append(now)
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
