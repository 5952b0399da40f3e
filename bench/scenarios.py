"""The scenario registry: names for --only, titles, and how to run each one."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bench import ack, ack_salesforce, baseline, burst, consent, failover, front, optouts, shapes, speed
from bench.common import Profile, Result


@dataclass(frozen=True)
class Scenario:
    """A named measurement; `needs_pg` scenarios are skipped when PostgreSQL is unreachable."""

    name: str
    title: str
    needs_pg: bool
    run: Callable[[str, str, Profile], Result]
    aliases: tuple[str, ...] = ()  # other names --only accepts (an issue's name for the same measurement)


QUIET_STL = (
    "quiet-stl (burst issue: quiet-queue speed-to-lead unchanged, p50 < 20 ms) is this scenario's "
    "speed_to_lead p50 target"
)


def _covers(result: Result, note: str) -> Result:
    """Say in the result which other issue's check this scenario answers."""
    result.info["covers"] = note
    return result


SCENARIOS = [
    Scenario(
        "baseline-fake",
        "Baseline: fake Engage alone, one loader call at a time",
        False,
        lambda n, t, p: baseline.run(n, t, p),
    ),
    Scenario(
        "ack-sqlite",
        "Ack latency, open loop, SQLite, inline dispatcher",
        False,
        lambda n, t, p: ack.run(n, t, p, "sqlite"),
    ),
    Scenario(
        "ack-postgres",
        "Ack latency, open loop, PostgreSQL, inline dispatcher",
        True,
        lambda n, t, p: ack.run(n, t, p, "postgresql"),
    ),
    Scenario(
        "ack-salesforce-100",
        "Ack latency, Salesforce SOAP messages of 100 Notifications, SQLite, inline",
        False,
        lambda n, t, p: ack_salesforce.run(n, t, p),
    ),
    Scenario(
        "stl-sqlite",
        "Speed-to-lead, IMMEDIATE one at a time, SQLite, inline (= quiet-stl)",
        False,
        lambda n, t, p: _covers(speed.run(n, t, p, "sqlite", "inline"), QUIET_STL),
        aliases=("quiet-stl",),
    ),
    Scenario(
        "stl-postgres-worker",
        "Speed-to-lead, IMMEDIATE one at a time, PostgreSQL, worker",
        True,
        lambda n, t, p: speed.run(n, t, p, "postgresql", "worker"),
    ),
    Scenario(
        "failover-postgres",
        "Failover: kill -9 the leading worker, hot lead to Engage, PostgreSQL",
        True,
        lambda n, t, p: failover.run(n, t, p),
    ),
    Scenario(
        "burst-sqlite",
        "Burst: IMMEDIATE leads from 8 threads, strict fake; naive relay baseline",
        False,
        lambda n, t, p: burst.run(n, t, p),
        aliases=("shape-burst",),
    ),
    Scenario(
        "consent-stl",
        "Consent gate: hot-lead speed-to-lead without and with it (fake TrustedForm at 50 ms), SQLite, inline",
        False,
        consent.run_stl,
    ),
    Scenario(
        "consent-burst",
        "Consent gate: the IMMEDIATE burst without and with it (fake TrustedForm at 50 ms), strict fake",
        False,
        consent.run_burst_scenario,
    ),
    Scenario(
        "front", "HTTP front before/after: gthread vs front.FrontWorker; 500 slow sockets", False, front.run_front
    ),
    Scenario(
        "rows-postgres",
        "Ack median on PostgreSQL: empty, 1M lead rows, 1M without the 0002 index",
        True,
        front.run_rows,
    ),
    Scenario(
        "optout-under-load",
        "Opt-outs: 200 of loaded leads during hot-under-load; stored → DNC entry + lead action at Engage",
        False,
        lambda n, t, p: optouts.run_under_load(n, t, p),
    ),
    Scenario(
        "optout-import-burst",
        "Opt-outs: 600-lead burst alone, then with a 1,000-number import at once (0 × 429, hot p99 ± 1 s)",
        False,
        lambda n, t, p: optouts.run_import_burst(n, t, p),
    ),
    *[
        Scenario(f"shape-{key}", title, False, (lambda k: lambda n, t, p: shapes.run(n, t, p, k))(key))
        for key, title in (
            ("quiet", "Shape: quiet, one hot lead every 3 s; naive relay beside it"),
            ("hot-stream", "Shape: hot stream, one hot lead every 0.4 s for 12 s; naive relay beside it"),
            ("hot-under-load", "Shape: hot under load, 40 NORMAL/s + 1 hot/s for 20 s"),
            ("mixed", "Shape: mixed, 200/s with 10 % hot for 60 s (over Engage's capacity), then the drain"),
            ("stream-burst", "Shape: the hot stream, then at once the 600-lead burst"),
            ("sustained", "Shape: sustained 73/s with 10 % hot for 10 minutes (80 % of Engage's capacity)"),
        )
    ],
]


def select(only: list[str] | None) -> list[Scenario]:
    """Scenarios matching any --only word: a full name, or a part of one (ack, stl, sqlite, postgres …)."""
    if not only:
        return list(SCENARIOS)
    words = [w.strip() for item in only for w in item.split(",") if w.strip()]
    unknown = [w for w in words if not any(_matches(s, w) for s in SCENARIOS)]
    if unknown:
        names = ", ".join(s.name for s in SCENARIOS)
        raise SystemExit(f"bench: no scenario matches {unknown}; scenarios: {names}")
    return [s for s in SCENARIOS if any(_matches(s, w) for w in words)]


def _matches(scenario: Scenario, word: str) -> bool:
    """True for the name or an alias, a dash-separated part of either, or a dash-separated prefix."""
    return any(
        word == name or word in name.split("-") or name.startswith(word + "-")
        for name in (scenario.name, *scenario.aliases)
    )
