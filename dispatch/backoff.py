"""The one backoff: exponential from a base, capped, with optional jitter."""

from __future__ import annotations

import random


def backoff(attempts: int, base: float, cap: float, rng: random.Random | None = None) -> float:
    """`base` doubled per attempt up to `cap`; with `rng`, scaled by a random 0.5-1.0 so retries spread out."""
    # The exponent is bounded so a long-failing lead cannot overflow the float before the cap applies.
    delay = min(cap, base * 2.0 ** min(max(attempts, 0), 20))
    if rng is None:
        return delay
    return delay * (0.5 + rng.random() / 2)
