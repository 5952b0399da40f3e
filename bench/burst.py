"""Burst: N IMMEDIATE leads from 8 client threads into a strict fake; then a naive relay, same leads, same schedule."""

from __future__ import annotations

import time

import requests

from bench import config_file, cpu, databases, memory, model, naive, stack
from bench.common import Profile, Result, log_dir, workdir
from bench.loadgen import HEADERS, run_burst
from bench.payloads import BodyFactory, phone_number
from bench.stats import summarize

TARGET_P99_MS = 500.0
POLL = 0.05  # fake / database polling while waiting: light next to the work being measured
SETTLE_WAIT = 15.0  # seconds for the loaded leads to be settled `delivered` in the database


def run(name: str, title: str, profile: Profile) -> Result:
    """Fresh SQLite stack (inline, default dispatch settings, strict fake); one warm lead; the burst; the baseline."""
    result = Result(name, title)
    factory = BodyFactory()
    _, warm_body = factory.body(0, hot=True)
    burst = factory.batch(1, profile.burst_leads, hot_every=None)
    phones = {extern: phone_number(n) for n, (extern, _) in enumerate(burst, start=1)}
    with workdir(name) as tmp, databases.sqlite_db(tmp) as db:
        config = config_file.write(tmp)  # dispatch defaults: batch 50, 27/10 s, 110/60 s, lease 4 s
        logs = log_dir(name)
        with stack.running(logs, db.url, config, mode="inline", strict=True) as procs:
            _warm(procs, warm_body)
            window = _measure(procs, db, [body for _, body in burst], profile)
            fake_leads, fake_stats = procs.fake.leads(), procs.fake.stats()
        db_leads = db.leads()
    ours = _service_figures(burst, window, fake_leads, fake_stats, db_leads)
    arrivals = _arrivals(burst, db_leads, phones)
    theirs = naive.run(arrivals, profile.naive_threads, profile.naive_budget, logs / "naive-fake.log")
    _report(result, ours, theirs, window, profile, arrivals)
    return result


def _warm(procs: stack.Stack, body: bytes) -> None:
    """One lead end to end (Engage token, campaign lookup), then the fake forgets it: counters and windows."""
    requests.post(f"{procs.web.url}/webhooks/hubspot", data=body, headers=HEADERS, timeout=10).raise_for_status()
    deadline = time.time() + 15
    while time.time() < deadline and procs.fake.stats().get("leads_accepted", 0) < 1:
        time.sleep(POLL)
    time.sleep(0.5)  # let the dispatcher settle it before the fake's counters are cleared
    procs.fake.control("POST", "reset")


def _measure(procs: stack.Stack, db: databases.SqliteDb, bodies: list[bytes], profile: Profile) -> dict:
    """Send the burst, wait for the fake to hold every lead and the database to settle them; CPU and RSS meanwhile."""
    pgid = stack.popen(procs.web).pid
    rss = memory.RssSampler(pgid).start()
    pss = memory.PssSampler(pgid).start()
    receiving = cpu.Meter({"service": pgid}, {"fake": stack.popen(procs.fake).pid}, {})
    receiving.start()
    sent = run_burst(f"{procs.web.url}/webhooks/hubspot", bodies, profile.burst_threads)
    cpu_receive = receiving.stop()
    draining = cpu.Meter({"service": pgid}, {"fake": stack.popen(procs.fake).pid}, {})
    draining.start()
    deadline = time.time() + profile.burst_wait
    while time.time() < deadline and procs.fake.stats().get("leads_accepted", 0) < len(bodies):
        time.sleep(POLL)
    fake_done = time.time()
    settle_deadline = time.time() + SETTLE_WAIT
    while time.time() < settle_deadline and db.delivered() < len(bodies) + 1:  # + the warm-up lead
        time.sleep(POLL)
    cpu_drain = draining.stop()
    return {
        "sent": sent,
        "fake_done_polled": fake_done,
        "settled_at": time.time(),
        "cpu_receive": cpu_receive,
        "cpu_drain": cpu_drain,
        "memory": rss.stop(),
        "pss": pss.stop(),
    }


def _service_figures(
    burst: list[tuple[str, bytes]], window: dict, fake_leads: list[dict], fake_stats: dict, db_leads: list
) -> dict:
    """Speed-to-lead per lead (fake received_at − database received_at) and the burst's totals."""
    ids = {extern for extern, _ in burst}
    in_db = {str(extern): received for extern, received, *_ in db_leads if str(extern) in ids}
    arrivals: dict[str, list[float]] = {}
    for lead in fake_leads:
        if str(lead["extern_id"]) in ids:
            arrivals.setdefault(str(lead["extern_id"]), []).append(lead["received_at"])
    first = {e: min(times) for e, times in arrivals.items()}
    sent = window["sent"]
    start = min(s.sent for s in sent)
    ok = [s for s in sent if s.status == 202]
    return {
        "stl_s": [first[e] - in_db[e] for e in first if e in in_db],
        "loaded": len(first),
        "leads": len(burst),
        "non_202": len(sent) - len(ok),
        "receive_all_s": round(max(s.done for s in ok) - start, 3) if ok else None,
        "all_loaded_s": round(max(first.values()) - start, 3) if len(first) == len(burst) else None,
        "calls": fake_stats.get("loader_calls"),
        "loader_429": fake_stats.get("loader_429"),
        "http_429": fake_stats.get("http_429"),
        "max_batch": fake_stats.get("max_batch"),
        "duplicates": sum(len(times) - 1 for times in arrivals.values()),
        "settled_after_fake_s": round(window["settled_at"] - window["fake_done_polled"], 2),
    }


def _arrivals(burst: list[tuple[str, bytes]], db_leads: list, phones: dict[str, str]) -> list[tuple[float, str, str]]:
    """The burst's arrival schedule as the service saw it: (offset from the first lead, externId, phone)."""
    ids = {extern for extern, _ in burst}
    received = {str(extern): at for extern, at, *_ in db_leads if str(extern) in ids}
    if not received:
        return [(0.0, extern, phones[extern]) for extern, _ in burst]  # nothing stored: all at once
    first = min(received.values())
    return [(received.get(extern, first) - first, extern, phones[extern]) for extern, _ in burst]


def _seconds(summary: dict, stat: str) -> float | None:
    """One statistic of a summarize() result, in seconds (2 decimals)."""
    value = summary.get(stat)
    return None if value is None else round(value / 1000.0, 2)


def _report(
    result: Result, ours: dict, theirs: dict, window: dict, profile: Profile, arrivals: list[tuple[float, str, str]]
) -> None:
    """Latency rows, the leadrelay-vs-naive block, checks and counters."""
    stl, naive_stl = summarize(ours.pop("stl_s")), summarize(theirs.pop("stl_s"))
    result.latency["speed_to_lead"] = stl
    result.latency["naive_speed_to_lead"] = naive_stl
    # The model on the same arrivals as the service saw them (bench/model.py).
    predicted = model.simulate([(offset, "IMMEDIATE") for offset, _, _ in arrivals])
    result.latency["model_speed_to_lead"] = summarize(predicted.latencies("IMMEDIATE"))
    cpu_s = window["cpu_receive"]["cpu_s_service"] + window["cpu_drain"]["cpu_s_service"]
    all_429 = (ours["loader_429"] or 0) + (ours["http_429"] or 0)
    naive_all = theirs.get("all_loaded_s") or (
        f">= {theirs['all_loaded_s_extrapolated_lower_bound']} (extrap.)"
        if "all_loaded_s_extrapolated_lower_bound" in theirs
        else None
    )
    rows = [
        ["leads", ours["leads"], theirs["leads"]],
        ["all received: first send → last 202 (s)", ours["receive_all_s"], theirs["receive_all_s"]],
        ["all at Engage (s)", ours["all_loaded_s"], naive_all],
        ["loaded by the end", ours["loaded"], theirs["loaded"]],
    ]
    # Leads the naive relay had not loaded when its bound ran out count at the bound: lower bounds.
    mark = ">= " if theirs["censored"] else ""
    rows += [
        [
            f"speed-to-lead {stat} (s)",
            _seconds(stl, stat),
            f"{mark}{_seconds(naive_stl, stat):.2f}" if naive_stl["n"] else None,
        ]
        for stat in ("p50", "p90", "p99", "max")
    ]
    rows += [
        ["loader calls", ours["calls"], theirs["calls"]],
        ["max batch", ours["max_batch"], theirs["max_batch"]],
        ["429 answers", all_429, (theirs["loader_429"] or 0)],
        ["duplicates at Engage", ours["duplicates"], theirs["duplicates"]],
    ]
    mem = window["memory"]
    result.info.update(
        {
            "side_by_side": {"columns": ["leadrelay", "naive 1 call/lead"], "rows": rows},
            "service": ours,
            "naive": {
                **theirs,
                "threads": profile.naive_threads,
                "budget_s": profile.naive_budget,
                "backoff": f"{naive.BACKOFF_START:g} s doubling, cap {naive.BACKOFF_CAP:g} s",
                "censored_leads_counted_at_run_end": theirs["censored"],
            },
            "database": "sqlite",
            "dispatch_mode": "inline",
            "fake_strict_rate_limits": True,
            "dispatch_settings": "defaults (batch 50, 27/10 s, 110/60 s)",
            "sender_threads": profile.burst_threads,
            "cpu_receive": window["cpu_receive"],
            "cpu_drain": window["cpu_drain"],
            "memory": mem,
            "service_cpu_s_burst": round(cpu_s, 2),
            "service_cpu_s_receive": window["cpu_receive"]["cpu_s_service"],
            "service_cpu_s_drain": window["cpu_drain"]["cpu_s_service"],
            "service_cpu_ms_per_lead": round(1000 * cpu_s / max(1, ours["leads"]), 2),
            # Sampled RSS sums the group (gunicorn master + worker); VmHWM is the largest process's lifetime peak.
            "shape": "burst",
            "shape_rows": [["IMMEDIATE", "speed_to_lead", "naive_speed_to_lead", "model_speed_to_lead"]],
            "service_pss_mib_peak": window["pss"]["pss_mib_peak_sum"],
            "pss": window["pss"],
            "service_rss_mb_before_group": mem["rss_mb_before"],
            "service_rss_mb_peak_group": mem["rss_mb_peak_sampled"],
            "service_vmhwm_mb": mem["vmhwm_mb_max_process"],
        }
    )
    if theirs["censored"]:
        result.info["note"] = (
            f"naive relay: {theirs['censored']} of {theirs['leads']} leads not loaded within its "
            f"{profile.naive_budget:g} s bound; its speed-to-lead counts them at the bound "
            "(lower bounds) and 'all at Engage' is extrapolated at Engage's limits"
        )
    result.target("speed_to_lead", "p99", TARGET_P99_MS)
    result.check("leads loaded", ours["loaded"], f"== {ours['leads']}", ours["loaded"] == ours["leads"])
    result.check("429 answers (loader + http)", all_429, "== 0", all_429 == 0)
    result.check("duplicates at Engage", ours["duplicates"], "== 0", ours["duplicates"] == 0)
    peak = window["pss"]["pss_mib_peak_sum"]
    result.check("service PSS peak (MiB, master + worker)", peak, "< 150", peak < 150)
