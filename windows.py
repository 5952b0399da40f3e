"""The product's one sliding window: at most `limit` events in any `span` seconds.

Every local limiter counts with it: the lead loader's and lookups' windows (dispatch/ratelimit.py),
the token-exchange budget (engage/auth.py) and the HTML form's per-key limits (handlers/html_form.py).
It holds no lock: each owner already holds its own around a read-and-add. The fake Engage keeps its
own count on purpose, as the independent check that none of these lets a 429 happen.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable


class SlidingWindow:
    """A log of event times in the last `span` seconds and the `limit` they may reach (not locked)."""

    def __init__(self, limit: int, span: float) -> None:
        """An empty window of `limit` events per `span` seconds (`limit` may change later)."""
        self.limit, self.span = limit, span
        self.times: collections.deque[float] = collections.deque()

    def seed(self, times: Iterable[float]) -> None:
        """Replace the log with events made at `times` (another process's, a predecessor's)."""
        self.times = collections.deque(sorted(times))

    def trim(self, now: float) -> None:
        """Forget events that have left the window."""
        while self.times and self.times[0] <= now - self.span:
            self.times.popleft()

    def recent(self, now: float) -> list[float]:
        """The events still inside the window at `now`, oldest first."""
        self.trim(now)
        return list(self.times)

    def count(self, now: float) -> int:
        """How many events are inside the window at `now`."""
        self.trim(now)
        return len(self.times)

    def wait(self, now: float, limit: int | None = None) -> float:
        """Seconds until one more event fits under `limit` (default: the window's own); 0 when it fits now."""
        usable = self.limit if limit is None else limit
        self.trim(now)
        if len(self.times) < usable:
            return 0.0
        # The event `usable` places from the newest must age out before another fits.
        return max(0.0, self.times[len(self.times) - usable] + self.span - now)

    def add(self, now: float) -> None:
        """Count one event at `now` (the caller checked `wait` first, or counts regardless)."""
        self.times.append(now)

    def last(self) -> float | None:
        """The newest event's time, or None when the window is empty."""
        return self.times[-1] if self.times else None
