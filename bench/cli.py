"""`python -m bench [--quick] [--only NAME ...] [--out FILE]`: run scenarios, print a table, write JSON."""

from __future__ import annotations

import argparse
import time
import traceback
from pathlib import Path

from bench import machine, report
from bench.common import FULL, QUICK, RESULTS_DIR, Profile, Result
from bench.databases import Unavailable, pg_check
from bench.scenarios import SCENARIOS, Scenario, select


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark leadrelay on loopback: webhook ack latency, speed-to-lead, failover, a burst against "
        "Engage's rate limits (with a naive relay baseline), every traffic shape (--only shape), "
        "and a fake-Engage baseline. "
        "Results: a table on stdout and bench/results/latest.json. See docs/benchmarks.md.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short runs (5 s of load, 50 leads, a 200-lead burst, one failover, a 1-minute sustained "
        "stream) for a smoke check",
    )
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help="run only matching scenarios (repeatable or comma-separated): "
        + ", ".join(s.name for s in SCENARIOS)
        + "; or a part such as ack, stl, postgres",
    )
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "latest.json", help="JSON results file")
    return parser.parse_args(argv)


def run_one(scenario: Scenario, profile: Profile, pg_problem: str | None) -> Result:
    """Run one scenario, turning a skip or a crash into a result row instead of stopping the suite."""
    started = time.monotonic()
    if scenario.needs_pg and pg_problem:
        result = Result(
            scenario.name,
            scenario.title,
            status="skipped",
            reason=f"PostgreSQL not reachable: {pg_problem} (set TEST_DATABASE_URL)",
        )
    else:
        try:
            result = scenario.run(scenario.name, scenario.title, profile)
        except Unavailable as exc:
            result = Result(scenario.name, scenario.title, status="skipped", reason=str(exc))
        except Exception as exc:  # one broken scenario must not hide the others' numbers
            traceback.print_exc()
            result = Result(scenario.name, scenario.title, status="error", reason=f"{type(exc).__name__}: {exc}")
    result.seconds = round(time.monotonic() - started, 1)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the selected scenarios in order; exit 1 only when a scenario errored (missed targets are data)."""
    args = parse(argv)
    profile = QUICK if args.quick else FULL
    scenarios = select(args.only)
    start = machine.describe()
    print("\n".join(report.machine_lines(start)), flush=True)
    if start["loadavg"][0] > (start["nproc"] or 1) / 2:
        print(
            f"NOTE: the machine is already busy (1-min load {start['loadavg'][0]}); expect inflated tails.", flush=True
        )
    pg_problem = pg_check() if any(s.needs_pg for s in scenarios) else None
    if pg_problem:
        print(f"PostgreSQL scenarios will be SKIPPED: {pg_problem}", flush=True)
    results = []
    for scenario in scenarios:
        print(f"… {scenario.name}: {scenario.title}", flush=True)
        results.append(run_one(scenario, profile, pg_problem))
    end = machine.describe()
    print(report.table(results))
    print(report.shapes_table(results))
    print(report.summary(results))
    print(f"load average at end: {end['loadavg']}")
    report.write_json(args.out, profile.name, start, end, results)
    print(f"results written to {args.out}")
    return 1 if any(r.status == "error" for r in results) else 0
