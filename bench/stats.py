"""Percentile summaries of latency samples (milliseconds)."""

from __future__ import annotations

import math


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list (q in 0..100); NaN when empty."""
    if not sorted_values:
        return math.nan
    # Nearest rank, not interpolation: p99 of 200 samples is the 2nd-worst sample, a real observation.
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summarize(samples_s: list[float]) -> dict:
    """n, p50/p90/p99/max and mean in milliseconds, from samples in seconds."""
    values = sorted(s * 1000.0 for s in samples_s)
    if not values:
        return {"n": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}
    return {
        "n": len(values),
        "p50": round(percentile(values, 50), 2),
        "p90": round(percentile(values, 90), 2),
        "p99": round(percentile(values, 99), 2),
        "max": round(values[-1], 2),
        "mean": round(sum(values) / len(values), 2),
    }
