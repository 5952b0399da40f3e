"""Shared pieces of the scenarios: the run profile, the result record, target checks, work dirs."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

RESULTS_DIR = Path(__file__).resolve().parent / "results"
LOGS_DIR = RESULTS_DIR / "logs"


@dataclass(frozen=True)
class Profile:
    """How long/large each scenario runs (`--quick` picks the small one)."""

    name: str
    ack_seconds: float = 20.0
    ack_rate: float = 200.0
    ack_threads: int = 40  # each thread sends every 200 ms: a slow answer rarely delays its next send
    ack_hot_every: int = 10  # every 10th webhook is IMMEDIATE (~10%)
    stl_leads: int = 200
    stl_warmup: int = 5
    stl_pause: float = 0.05
    stl_budget: float = 90.0  # seconds; a scenario stops sending after this, whatever its count
    lead_timeout: float = 10.0  # one lead not at the fake within this is counted as missing
    burst_leads: int = 600
    burst_threads: int = 8
    burst_wait: float = 120.0  # seconds after the last 202 for the fake to hold every lead
    # The naive one-call-per-lead baseline needs >= 270 s for 600 leads under 30/10 s + 120/60 s:
    # a bound above that lets it finish; a lower one (quick) ends it and extrapolates the rest.
    naive_budget: float = 360.0
    naive_threads: int = 8
    failover_rounds: int = 3
    sf_rate: float = 10.0  # Salesforce messages per second (× notifications = leads per second)
    sf_seconds: float = 15.0
    sf_notifications: int = 100
    sf_threads: int = 8  # each thread sends every 800 ms at 10/s
    # Traffic shapes (bench/shapes.py): how long each one's traffic lasts.
    quiet_leads: int = 10  # one hot lead every `quiet_gap` s
    quiet_gap: float = 3.0
    hot_stream_leads: int = 30  # one every 0.4 s: 12 s
    under_load_seconds: float = 20.0  # 40 NORMAL/s + 1 hot/s
    mixed_seconds: float = 60.0  # 200/s, 10 % hot
    sustained_seconds: float = 600.0  # 73/s, 10 % hot: 80 % of 110 calls/min × 50


FULL = Profile("full")
QUICK = Profile(
    "quick",
    ack_seconds=5.0,
    stl_leads=50,
    stl_budget=45.0,
    burst_leads=200,
    naive_budget=40.0,
    failover_rounds=1,
    sf_seconds=5.0,
    quiet_leads=5,
    under_load_seconds=10.0,
    mixed_seconds=5.0,
    sustained_seconds=60.0,
)


@dataclass
class Result:
    """What one scenario measured; latency summaries are in milliseconds."""

    name: str
    title: str
    status: str = "ok"  # ok | skipped | error
    reason: str = ""
    latency: dict[str, dict] = field(default_factory=dict)  # label → stats.summarize()
    targets: list[dict] = field(default_factory=list)  # {metric, stat, limit_ms, value_ms, ok}
    checks: list[dict] = field(default_factory=list)  # {name, value, want, ok}: counts, not latencies
    info: dict = field(default_factory=dict)  # counters and settings worth reading next to the numbers
    seconds: float = 0.0

    def target(self, metric: str, stat: str, limit_ms: float) -> None:
        """Check `latency[metric][stat] < limit_ms` and record the verdict."""
        value = (self.latency.get(metric) or {}).get(stat)
        self.targets.append(
            {
                "metric": metric,
                "stat": stat,
                "limit_ms": limit_ms,
                "value_ms": value,
                "ok": value is not None and value < limit_ms,
            }
        )

    def check(self, name: str, value: object, want: str, ok: bool) -> None:
        """Record a non-latency target (e.g. `loader_429` want `== 0`) and whether it held."""
        self.checks.append({"name": name, "value": value, "want": want, "ok": bool(ok)})


@contextmanager
def workdir(name: str) -> Iterator[Path]:
    """A temp directory for the scenario's config and SQLite file, removed afterwards."""
    path = Path(tempfile.mkdtemp(prefix=f"leadrelay-bench-{name}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def log_dir(name: str) -> Path:
    """bench/results/logs/<scenario>/, emptied first so it holds only this run's logs."""
    path = LOGS_DIR / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path
