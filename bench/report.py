"""The human table and the JSON file."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from bench.common import Result

NOISE_WARNING = ("WARNING: this machine is shared and noisy (other jobs, small VMs); latency numbers vary "
                 "run to run. Compare runs on the same machine, and look at p50 before p99.")


def _fmt(value) -> str:
    """A latency cell: two decimals, or a dash."""
    return "-" if value is None else f"{value:.2f}"


def machine_lines(machine: dict) -> list[str]:
    """Header lines describing the machine."""
    return [f"leadrelay benchmarks — {machine['date']} on {machine['host']}",
            f"machine: {machine['nproc']} CPUs ({machine['cpu']}), load average {machine['loadavg']}, "
            f"Python {machine['python']}, Linux {machine['kernel']}",
            f"code: commit {machine['commit']}, {machine['modified_files']} tracked file(s) modified in the work tree",
            NOISE_WARNING]


def _targets_for(result: Result, metric: str) -> str:
    """'p99<25 PASS' style verdicts for one latency row."""
    marks = [f"{t['stat']}<{t['limit_ms']:g} {'PASS' if t['ok'] else 'MISS'}" for t in result.targets
             if t["metric"] == metric]
    return ", ".join(marks)


def table(results: list[Result]) -> str:
    """One block per scenario: latency rows (ms) and its key counters."""
    header = f"  {'metric (ms)':<26}{'n':>6}{'p50':>9}{'p90':>9}{'p99':>9}{'max':>9}  target"
    out = []
    for r in results:
        out.append(f"\n[{r.name}] {r.title}  ({r.seconds:.0f}s)")
        if r.status != "ok":
            out.append(f"  {r.status.upper()}: {r.reason}")
            continue
        out.append(header)
        for metric, s in r.latency.items():
            out.append(f"  {metric:<26}{s['n']:>6}{_fmt(s['p50']):>9}{_fmt(s['p90']):>9}{_fmt(s['p99']):>9}"
                       f"{_fmt(s['max']):>9}  {_targets_for(r, metric)}")
        out.append("  " + _info_line(r.info))
    return "\n".join(out)


def _info_line(info: dict) -> str:
    """The counters a reader needs next to the latencies, in one line."""
    keys = ("achieved_send_rate", "achieved_2xx_rate", "non_2xx", "late_sends", "leads_sent", "non_202",
            "missing_at_fake", "calls", "fake_loader_calls", "fake_loader_429", "fake_leads_accepted",
            "lead_statuses_after", "immediate_total", "immediate_not_delivered_at_end",
            "service_cpu_ms_per_webhook", "machine_busy_pct", "others_busy_pct", "note")
    return "; ".join(f"{k}={info[k]}" for k in keys if k in info)


def summary(results: list[Result]) -> str:
    """One line: targets met / missed, errors and skips."""
    targets = [t for r in results for t in r.targets]
    missed = [f"{r.name} {t['metric']} {t['stat']}={_fmt(t['value_ms'])}ms (target <{t['limit_ms']:g})"
              for r in results for t in r.targets if not t["ok"]]
    lines = [f"\ntargets: {len(targets) - len(missed)}/{len(targets)} met"]
    lines += [f"  MISSED: {m}" for m in missed]
    lines += [f"  {r.status.upper()}: {r.name}: {r.reason}" for r in results if r.status != "ok"]
    return "\n".join(lines)


def write_json(path: Path, profile: str, machine_start: dict, machine_end: dict, results: list[Result]) -> None:
    """Write every number (and the settings behind them) to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {"profile": profile, "machine": machine_start, "loadavg_end": machine_end["loadavg"],
           "results": [asdict(r) for r in results]}
    path.write_text(json.dumps(doc, indent=2) + "\n")
