"""The human table and the JSON file."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from bench.common import Result

NOISE_WARNING = (
    "WARNING: this machine is shared and noisy (other jobs, small VMs); latency numbers vary "
    "run to run. Compare runs on the same machine, and look at p50 before p99."
)


def _fmt(value: float | None) -> str:
    """A latency cell: two decimals (none from 10 s up, so minutes still fit the column), or a dash."""
    if value is None:
        return "-"
    return f"{value:.0f}" if abs(value) >= 10_000 else f"{value:.2f}"


def machine_lines(machine: dict) -> list[str]:
    """Header lines describing the machine."""
    return [
        f"leadrelay benchmarks — {machine['date']} on {machine['host']}",
        f"machine: {machine['nproc']} CPUs ({machine['cpu']}), load average {machine['loadavg']}, "
        f"Python {machine['python']}, Linux {machine['kernel']}",
        f"code: commit {machine['commit']}, {machine['modified_files']} tracked file(s) modified in the work tree",
        NOISE_WARNING,
    ]


def _targets_for(result: Result, metric: str) -> str:
    """'p99<25 PASS' style verdicts for one latency row."""
    marks = [
        f"{t['stat']}<{t['limit_ms']:g} {'PASS' if t['ok'] else 'MISS'}"
        for t in result.targets
        if t["metric"] == metric
    ]
    return ", ".join(marks)


def table(results: list[Result]) -> str:
    """One block per scenario: latency rows (ms) and its key counters."""
    header = f"  {'metric (ms)':<26}{'n':>6}{'p50':>10}{'p90':>10}{'p99':>10}{'max':>10}  target"
    out = []
    for r in results:
        out.append(f"\n[{r.name}] {r.title}  ({r.seconds:.0f}s)")
        if r.status != "ok":
            out.append(f"  {r.status.upper()}: {r.reason}")
            continue
        out.append(header)
        for metric, s in r.latency.items():
            cells = "".join(f" {_fmt(s[k]):>9}" for k in ("p50", "p90", "p99", "max"))  # a space: never run together
            out.append(f"  {metric:<26}{s['n']:>6}{cells}  {_targets_for(r, metric)}")
        out.extend(_side_by_side(r.info.get("side_by_side")))
        out.extend(
            f"  check: {c['name']}: {c['value']} (want {c['want']}) {'PASS' if c['ok'] else 'MISS'}" for c in r.checks
        )
        out.append("  " + _info_line(r.info))
    return "\n".join(out)


def _side_by_side(block: dict | None) -> list[str]:
    """A small comparison table ({"columns": [...], "rows": [[label, value, …], …]}), e.g. leadrelay vs naive."""
    if not block:
        return []
    lines = ["  " + f"{'':<34}" + "".join(f"{c:>18}" for c in block["columns"])]
    for label, *values in block["rows"]:
        lines.append("  " + f"{label:<34}" + "".join(f"{_cell(v):>18}" for v in values))
    return lines


def _cell(value: object) -> str:
    """A side-by-side cell: floats with two decimals, a dash for None, anything else as is."""
    if value is None:
        return "-"
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _info_line(info: dict) -> str:
    """The counters a reader needs next to the latencies, in one line."""
    keys = (
        "achieved_send_rate",
        "achieved_2xx_rate",
        "non_2xx",
        "late_sends",
        "leads_sent",
        "non_202",
        "missing_at_fake",
        "calls",
        "fake_loader_calls",
        "fake_loader_429",
        "fake_leads_accepted",
        "lead_statuses_after",
        "immediate_total",
        "immediate_not_delivered_at_end",
        "service_cpu_ms_per_webhook",
        "service_cpu_ms_per_message",
        "service_cpu_s_burst",
        "service_cpu_s_receive",
        "service_cpu_s_drain",
        "service_cpu_ms_per_lead",
        "service_rss_mb_before_group",
        "service_rss_mb_peak_group",
        "service_vmhwm_mb",
        "soap_ack_200",
        "not_soap_ack",
        "leads_stored",
        "kill_to_fake_ms_per_round",
        "lease_left_at_kill_ms_per_round",
        "covers",
        "machine_busy_pct",
        "others_busy_pct",
        "note",
    )
    return "; ".join(f"{k}={info[k]}" for k in keys if k in info)


def _pair(latency: dict, key: str | None) -> str:
    """'p50 / p99' of one latency row in ms, or a dash."""
    row = latency.get(key) if key else None
    if not row or not row.get("n"):
        return "-"
    return f"{_fmt(row['p50'])} / {_fmt(row['p99'])}"


def _verdicts(result: Result, metric: str) -> str:
    """'p50<20 ✓, p99<100 ✗' for one row's targets."""
    return ", ".join(
        f"{t['stat']}<{t['limit_ms']:g} {'PASS' if t['ok'] else 'MISS'}"
        for t in result.targets
        if t["metric"] == metric
    )


def shapes_table(results: list[Result]) -> str:
    """Every traffic shape in one table: leadrelay beside the naive relay and the model (ms), 429s, PSS."""
    rows = [r for r in results if r.status == "ok" and r.info.get("shape_rows")]
    if not rows:
        return ""
    head = (
        f"  {'shape':<16}{'lane':<22}{'n':>6}  {'leadrelay p50 / p99':>22}{'max':>10}  "
        f"{'naive p50 / p99':>20}  {'model p50 / p99':>20}{'429':>5}{'PSS MiB':>9}  targets"
    )
    out = ["\nTraffic shapes — speed-to-lead (ms), strict fake Engage, SQLite, inline dispatcher", head]
    for r in rows:
        throttled = next((c["value"] for c in r.checks if c["name"].startswith("429")), "-")
        pss = r.info.get("service_pss_mib_peak", "-")
        for lane, metric, naive_key, model_key in r.info["shape_rows"]:
            ours = r.latency.get(metric) or {}
            if not ours.get("n"):
                continue
            out.append(
                f"  {r.info['shape']:<16}{lane:<22}{ours['n']:>6}  {_pair(r.latency, metric):>22}"
                f"{_fmt(ours.get('max')):>10}  {_pair(r.latency, naive_key):>20}  {_pair(r.latency, model_key):>20}"
                f"{throttled:>5}{pss:>9}  {_verdicts(r, metric)}"
            )
    return "\n".join(out)


def summary(results: list[Result]) -> str:
    """One line: targets met / missed, errors and skips."""
    targets = [t for r in results for t in r.targets] + [c for r in results for c in r.checks]
    missed = [
        f"{r.name} {t['metric']} {t['stat']}={_fmt(t['value_ms'])}ms (target <{t['limit_ms']:g})"
        for r in results
        for t in r.targets
        if not t["ok"]
    ]
    missed += [
        f"{r.name} {c['name']}: {c['value']} (want {c['want']})" for r in results for c in r.checks if not c["ok"]
    ]
    lines = [f"\ntargets: {len(targets) - len(missed)}/{len(targets)} met"]
    lines += [f"  MISSED: {m}" for m in missed]
    lines += [f"  {r.status.upper()}: {r.name}: {r.reason}" for r in results if r.status != "ok"]
    return "\n".join(lines)


def write_json(path: Path, profile: str, machine_start: dict, machine_end: dict, results: list[Result]) -> None:
    """Write every number (and the settings behind them) to `path`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "profile": profile,
        "machine": machine_start,
        "loadavg_end": machine_end["loadavg"],
        "results": [asdict(r) for r in results],
    }
    path.write_text(json.dumps(doc, indent=2) + "\n")
