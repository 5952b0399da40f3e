"""The scenario registry: names for --only, titles, and how to run each one."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from bench import ack, baseline, speed
from bench.common import Profile, Result


@dataclass(frozen=True)
class Scenario:
    """A named measurement; `needs_pg` scenarios are skipped when PostgreSQL is unreachable."""

    name: str
    title: str
    needs_pg: bool
    run: Callable[[str, str, Profile], Result]


SCENARIOS = [
    Scenario("baseline-fake", "Baseline: fake Engage alone, one loader call at a time", False,
             lambda n, t, p: baseline.run(n, t, p)),
    Scenario("ack-sqlite", "Ack latency, open loop, SQLite, inline dispatcher", False,
             lambda n, t, p: ack.run(n, t, p, "sqlite")),
    Scenario("ack-postgres", "Ack latency, open loop, PostgreSQL, inline dispatcher", True,
             lambda n, t, p: ack.run(n, t, p, "postgresql")),
    Scenario("stl-sqlite", "Speed-to-lead, IMMEDIATE one at a time, SQLite, inline", False,
             lambda n, t, p: speed.run(n, t, p, "sqlite", "inline")),
    Scenario("stl-postgres-worker", "Speed-to-lead, IMMEDIATE one at a time, PostgreSQL, worker", True,
             lambda n, t, p: speed.run(n, t, p, "postgresql", "worker")),
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
    """True for the exact name, a dash-separated part of it, or a dash-separated prefix."""
    return word == scenario.name or word in scenario.name.split("-") or scenario.name.startswith(word + "-")
