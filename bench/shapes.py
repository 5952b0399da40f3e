"""Traffic shapes: speed-to-lead per lane in every shape, against the strict fake Engage (30/10 s, 120/60 s).

Beside it, the naive relay (where it finishes in minutes) and the model's prediction (bench/model.py),
with the service's PSS per process, 429 answers and the queue's depth over time.
"""

from __future__ import annotations

import contextlib
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import burst as burst_scenario
from bench import config_file, databases, memory, model, naive, stack
from bench.common import Profile, Result, log_dir, workdir
from bench.loadgen import run_burst, run_schedule
from bench.payloads import BodyFactory, phone_number
from bench.stats import summarize
from dispatch.budget import HOT, NORMAL

POLL = 0.5  # fake / database polling while waiting: light next to the work being measured
ALLOWED_LEADS_PER_S = 110 / 60 * 50  # the dispatcher's own 60-s window, full batches
MEMORY_LIMIT_MIB = 150.0
Schedule = list[tuple[float, bool]]  # (offset s, hot)


def _every(gap: float, count: int, hot: bool = True, start: float = 0.0) -> Schedule:
    """`count` leads `gap` seconds apart."""
    return [(start + k * gap, hot) for k in range(count)]


def _stream(rate: float, seconds: float, hot_every: int) -> Schedule:
    """`rate` webhooks/s for `seconds`, every `hot_every`-th one hot (the first one is hot)."""
    return [(k / rate, k % hot_every == 0) for k in range(int(rate * seconds))]


@dataclass(frozen=True)
class Shape:
    """One traffic shape: its schedule, what follows it, what it is held to."""

    schedule: Callable[[Profile], Schedule]
    burst: Callable[[Profile], int] = lambda p: 0  # then this many hot leads as fast as 8 clients send
    naive: bool = False  # run the naive relay on the same arrivals (hot leads only; it finishes in minutes)
    drain: Callable[[Profile], float] = lambda p: 60.0  # seconds after the last send for every lead to arrive
    targets: dict = field(default_factory=dict)  # metric → {stat: limit ms}
    sample_depth: float = 2.0  # seconds between queue-depth samples


SHAPES = {
    "quiet": Shape(lambda p: _every(p.quiet_gap, p.quiet_leads), naive=True, drain=lambda p: 15.0),
    "hot-stream": Shape(
        lambda p: _every(0.4, p.hot_stream_leads),
        naive=True,
        drain=lambda p: 15.0,
        targets={"hot_stl": {"p50": 20.0, "p99": 100.0}},
    ),
    "hot-under-load": Shape(
        lambda p: _stream(41.0, p.under_load_seconds, 41),
        drain=lambda p: 30.0,
        targets={"hot_stl": {"p50": 25.0, "p99": 150.0}, "normal_stl": {"max": 15000.0}},
    ),
    "mixed": Shape(
        lambda p: _stream(200.0, p.mixed_seconds, 10),
        drain=lambda p: 60.0 + p.mixed_seconds * 200 / ALLOWED_LEADS_PER_S,
        targets={"hot_stl": {"p50": 500.0, "p99": 1500.0}},
    ),
    "stream-burst": Shape(
        lambda p: _every(0.4, p.hot_stream_leads),
        burst=lambda p: p.burst_leads,
        drain=lambda p: 60.0,
        targets={"hot_stl_stream": {"p50": 20.0, "p99": 100.0}, "hot_stl_burst": {"p99": 4000.0}},
    ),
    "sustained": Shape(lambda p: _stream(73.0, p.sustained_seconds, 10), drain=lambda p: 60.0, sample_depth=5.0),
}


class DepthSampler:
    """Samples the queue's depth (leads waiting to be sent) every `interval` s in a thread."""

    def __init__(self, db: databases.SqliteDb, interval: float, max_samples: int = 2_000) -> None:
        """`max_samples` bounds the thread even if stop() is never called."""
        self.db, self.interval, self.max_samples = db, interval, max_samples
        self.samples: list[tuple[float, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-depth", daemon=True)

    def _loop(self) -> None:
        """Sample until stopped."""
        for _ in range(self.max_samples):
            with contextlib.suppress(Exception):  # a locked or busy moment: skip this sample
                self.samples.append((time.time(), self.db.depth()))
            if self._stop.wait(self.interval):
                return

    def start(self) -> DepthSampler:
        """Begin sampling."""
        self._thread.start()
        return self

    def stop(self) -> list[tuple[float, int]]:
        """Stop and return (wall time, depth) samples."""
        self._stop.set()
        self._thread.join(5)
        return self.samples


def run(name: str, title: str, profile: Profile, shape_name: str) -> Result:
    """A fresh SQLite stack (inline dispatcher, default dispatch settings, strict fake); one warm lead; the shape."""
    shape = SHAPES[shape_name]
    result = Result(name, title)
    schedule = shape.schedule(profile)
    burst_count = shape.burst(profile)
    factory = BodyFactory()
    _, warm_body = factory.body(0, hot=True)
    bodies = [factory.body(n, hot) for n, (_, hot) in enumerate(schedule, start=1)]
    burst_bodies = factory.batch(len(schedule) + 1, burst_count, hot_every=None) if burst_count else []
    with workdir(name) as tmp, databases.sqlite_db(tmp) as db:
        config = config_file.write(tmp)  # dispatch defaults: batch 50, 27/10 s, 110/60 s
        logs = log_dir(name)
        with stack.running(logs, db.url, config, mode="inline", strict=True) as procs:
            burst_scenario._warm(procs, warm_body)
            window = _send(procs, db, shape, profile, schedule, [b for _, b in bodies], [b for _, b in burst_bodies])
            fake_leads, fake_stats = procs.fake.leads(), procs.fake.stats()
        db_leads = db.leads()
    ids = {extern for extern, _ in bodies + burst_bodies}
    burst_ids = {extern for extern, _ in burst_bodies}
    figures = _figures(result, db_leads, fake_leads, ids, burst_ids, window)
    _predict(result, figures["arrivals"])
    if shape.naive:
        _naive(result, figures["arrivals_hot"], logs, profile)
    _report(result, shape, shape_name, fake_stats, window, figures)
    return result


def _send(
    procs: stack.Stack,
    db: databases.SqliteDb,
    shape: Shape,
    profile: Profile,
    schedule: Schedule,
    bodies: list[bytes],
    burst_bodies: list[bytes],
) -> dict:
    """Send the schedule (then the burst), wait for the fake to hold every lead; PSS and depth meanwhile."""
    url = f"{procs.web.url}/webhooks/hubspot"
    total = len(bodies) + len(burst_bodies)
    pss = memory.PssSampler(stack.popen(procs.web).pid).start()
    depth = DepthSampler(db, shape.sample_depth).start()
    started = time.time()
    rate = len(schedule) / max(1.0, schedule[-1][0]) if schedule else 1.0
    threads = min(40, max(4, math.ceil(rate / 5)))  # each thread sends every ≥ 200 ms
    samples, _ = run_schedule(url, bodies, [offset for offset, _ in schedule], threads)
    sent_end = time.time()
    burst_sent = run_burst(url, burst_bodies, profile.burst_threads) if burst_bodies else []
    if burst_sent:
        sent_end = max(s.done for s in burst_sent)
    deadline = time.time() + shape.drain(profile)
    while time.time() < deadline and procs.fake.stats().get("leads_accepted", 0) < total:
        time.sleep(POLL)
    return {
        "started": started,
        "sent_end": sent_end,
        "all_in": time.time(),
        "memory": pss.stop(),
        "depth": depth.stop(),
        "non_202": sum(1 for s in samples if s.status != 202) + sum(1 for s in burst_sent if s.status != 202),
    }


def _figures(
    result: Result, db_leads: list, fake_leads: list[dict], ids: set[str], burst_ids: set[str], window: dict
) -> dict:
    """Speed-to-lead per lane (fake's first arrival − database receipt), arrivals for the model and the relay."""
    arrived: dict[str, float] = {}
    for lead in fake_leads:
        extern = str(lead["extern_id"])
        arrived[extern] = min(arrived.get(extern, math.inf), lead["received_at"])
    rows = [(str(extern), received, priority) for extern, received, _, _, priority in db_leads if str(extern) in ids]
    first = min((received for _, received, _ in rows), default=0.0)
    stl: dict[str, list[float]] = {"hot_stl": [], "normal_stl": [], "hot_stl_stream": [], "hot_stl_burst": []}
    for extern, received, priority in rows:
        if extern not in arrived:
            continue
        value = arrived[extern] - received
        stl["hot_stl" if priority == HOT else "normal_stl"].append(value)
        if burst_ids and priority == HOT:
            stl["hot_stl_burst" if extern in burst_ids else "hot_stl_stream"].append(value)
    for metric, values in stl.items():
        if values:
            result.latency[metric] = summarize(values)
    normal_after = sorted(
        arrived[e] for e, _, p in rows if p == NORMAL and e in arrived and arrived[e] > window["sent_end"] + 2
    )
    return {
        "arrivals": sorted((received - first, priority) for _, received, priority in rows),
        "arrivals_hot": sorted((received - first, extern) for extern, received, p in rows if p == HOT),
        "leads": len(ids),
        "stored": len(rows),
        "loaded": sum(1 for e in ids if e in arrived),
        "duplicates": sum(1 for lead in fake_leads if str(lead["extern_id"]) in ids) - len(arrived.keys() & ids),
        "normal_drain_per_s": round((len(normal_after) - 1) / (normal_after[-1] - normal_after[0]), 1)
        if len(normal_after) > 50 and normal_after[-1] > normal_after[0]
        else None,
    }


def _predict(result: Result, arrivals: list[tuple[float, str]]) -> None:
    """The model's prediction for the same arrivals (receipt times as the service saw them)."""
    out = model.simulate(arrivals)
    for lane, metric in ((HOT, "model_hot_stl"), (NORMAL, "model_normal_stl")):
        values = out.latencies(lane)
        if values:
            result.latency[metric] = summarize(values)
    result.info["model_calls"] = len(out.calls)
    result.info["model_max_queue"] = out.max_queue


def _naive(result: Result, arrivals: list[tuple[float, str]], logs: Path, profile: Profile) -> None:
    """The naive one-call-per-lead relay over the same hot arrivals, in the same run."""
    schedule = [(offset, extern, phone_number(n)) for n, (offset, extern) in enumerate(arrivals, start=1)]
    theirs = naive.run(schedule, profile.naive_threads, profile.naive_budget, logs / "naive-fake.log")
    result.latency["naive_hot_stl"] = summarize(theirs.pop("stl_s"))
    result.info["naive"] = theirs


def _report(result: Result, shape: Shape, shape_name: str, fake_stats: dict, window: dict, figures: dict) -> None:
    """Targets, checks and the counters beside them."""
    for metric, limits in shape.targets.items():
        for stat, limit in limits.items():
            result.target(metric, stat, limit)
    throttled = (fake_stats.get("loader_429") or 0) + (fake_stats.get("http_429") or 0)
    result.check("leads loaded", figures["loaded"], f"== {figures['leads']}", figures["loaded"] == figures["leads"])
    result.check("429 answers (loader + http)", throttled, "== 0", throttled == 0)
    result.check("duplicates at Engage", figures["duplicates"], "== 0", figures["duplicates"] == 0)
    mem = window["memory"]
    if shape_name in ("sustained", "mixed", "stream-burst"):
        result.check(
            "service PSS peak (MiB, master + worker)",
            mem["pss_mib_peak_sum"],
            f"< {MEMORY_LIMIT_MIB:g}",
            mem["pss_mib_peak_sum"] < MEMORY_LIMIT_MIB,
        )
    if shape_name == "quiet" and "naive_hot_stl" in result.latency and "hot_stl" in result.latency:
        ours, theirs = result.latency["hot_stl"]["p50"], result.latency["naive_hot_stl"]["p50"]
        result.check("quiet p50 − naive p50 (ms)", round(ours - theirs, 2), "<= 5", ours - theirs <= 5.0)
    if shape_name == "mixed" and figures["normal_drain_per_s"] is not None:
        rate = figures["normal_drain_per_s"]
        result.check(
            "NORMAL drain after the traffic (leads/s)",
            rate,
            f">= {0.9 * ALLOWED_LEADS_PER_S:.0f}",
            rate >= 0.9 * ALLOWED_LEADS_PER_S,
        )
    depth = window["depth"]
    if shape_name == "sustained" and depth:
        bounded, detail = _bounded(depth, window["sent_end"])
        result.check("queue stays bounded", detail, "no growth, max < 1000", bounded)
    # One row per lane: its label, then the metric keys of leadrelay, the naive relay and the model (None: not run).
    rows: list[list[str | None]] = [["IMMEDIATE", "hot_stl", "naive_hot_stl", "model_hot_stl"]]
    if burst_rows := [m for m in ("hot_stl_stream", "hot_stl_burst") if m in result.latency]:
        rows += [[f"IMMEDIATE ({m.rsplit('_', 1)[1]})", m, None, None] for m in burst_rows]
    if "normal_stl" in result.latency:
        rows.append(["NORMAL", "normal_stl", None, "model_normal_stl"])
    result.info.update(
        {
            "shape": shape_name,
            "shape_rows": rows,
            "leads_sent": figures["leads"],
            "leads_stored": figures["stored"],
            "non_202": window["non_202"],
            "fake_loader_calls": fake_stats.get("loader_calls"),
            "fake_loader_429": fake_stats.get("loader_429"),
            "fake_max_batch": fake_stats.get("max_batch"),
            "memory": mem,
            "service_pss_mib_peak": mem["pss_mib_peak_sum"],
            "queue_depth_max": max((d for _, d in depth), default=None),
            "queue_depth_samples": [[round(t - window["started"], 1), d] for t, d in depth],
            "normal_drain_per_s": figures["normal_drain_per_s"],
            "send_s": round(window["sent_end"] - window["started"], 1),
            "all_in_s": round(window["all_in"] - window["started"], 1),
            "database": "sqlite",
            "dispatch_mode": "inline",
            "fake_strict_rate_limits": True,
        }
    )


def _bounded(depth: list[tuple[float, int]], sent_end: float) -> tuple[bool, str]:
    """While traffic flowed: the last third's mean depth is not above the first third's (+ slack), max < 1000."""
    during = [d for t, d in depth if t <= sent_end]
    if len(during) < 6:
        return True, "too short to judge"
    third = len(during) // 3
    first, last = sum(during[:third]) / third, sum(during[-third:]) / third
    peak = max(during)
    return (
        last <= 1.5 * first + 100 and peak < 1000
    ), f"mean first third {first:.0f}, last third {last:.0f}, max {peak}"
