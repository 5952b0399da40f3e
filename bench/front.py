"""The HTTP front, before and after (issue 8), and ack latency from an empty table to 1M lead rows.

`front`: the same stack under gunicorn's gthread worker (before) and front.FrontWorker (after), in one
run: open-loop ack latency, speed-to-lead one lead at a time, service RSS, then 400 header- and 100
body-trickling sockets held while 20 webhooks and /healthz are timed and the leads counted at the fake.
`rows-postgres`: ack latency on PostgreSQL with an empty leads table, with 1M lead rows, and with 1M rows
but without the 0002 index on leads(source, record_key) (the "before").

    python -m bench --only front          python -m bench --only rows
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager

import requests

from bench import config_file, databases, memory, stack
from bench.common import Profile, Result, log_dir, workdir
from bench.loadgen import HEADERS, run_open_loop
from bench.payloads import BodyFactory
from bench.speed import Sender
from bench.stats import summarize
from harness.slow_clients import SlowClients, timed_get
from lead.lifecycle import LeadStatus

FRONTS = (("before_gthread", "gthread"), ("after_front", "front.FrontWorker"))
SLOW_HEADER, SLOW_BODY = int(os.environ.get("BENCH_SLOW_HEADER", "400")), int(os.environ.get("BENCH_SLOW_BODY", "100"))
SLOW_SECONDS = float(os.environ.get("BENCH_SLOW_SECONDS", "20"))
SLOW_WEBHOOKS = 20
ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))


@contextmanager
def worker_class(name: str) -> Iterator[None]:
    """Run the service with this gunicorn worker class (ServiceProcess copies this process's environment)."""
    previous = os.environ.get("GUNICORN_WORKER_CLASS")
    os.environ["GUNICORN_WORKER_CLASS"] = name
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("GUNICORN_WORKER_CLASS", None)
        else:
            os.environ["GUNICORN_WORKER_CLASS"] = previous


def run_front(name: str, title: str, profile: Profile) -> Result:
    """Before/after table for the front: ack, speed-to-lead, RSS, and the slow-socket attack."""
    result = Result(name, title)
    factory = BodyFactory()
    count = int(profile.ack_seconds * profile.ack_rate)
    offset = 0
    for label, klass in FRONTS:
        warm = [b for _, b in factory.batch(offset, profile.ack_threads, profile.ack_hot_every)]
        bodies = [b for _, b in factory.batch(offset + profile.ack_threads, count, profile.ack_hot_every)]
        stl = [b for _, b in factory.batch(offset + profile.ack_threads + count, 30, hot_every=None)]
        attack = [b for _, b in factory.batch(offset + profile.ack_threads + count + 30, SLOW_WEBHOOKS, None)]
        offset += profile.ack_threads + count + 30 + SLOW_WEBHOOKS
        with worker_class(klass), workdir(f"{name}-{label}") as tmp, databases.fresh("sqlite", tmp) as db:
            config = config_file.write(tmp, unthrottled=True)
            logs = log_dir(f"{name}-{label}")
            with stack.running(logs, db.url, config, mode="inline", strict=False) as procs:
                rss = memory.RssSampler(stack.popen(procs.web).pid).start()
                samples, _ = run_open_loop(
                    f"{procs.web.url}/webhooks/hubspot", bodies, profile.ack_rate, profile.ack_threads, warm
                )
                result.latency[f"ack_{label}"] = summarize([s.done - s.sent for s in samples if s.status])
                server = stack.server_ack_ms(logs)[len(warm) :]
                result.latency[f"ack_server_side_{label}"] = summarize([ms / 1000.0 for ms in server])
                result.info[f"ack_non_2xx_{label}"] = sum(1 for s in samples if not 200 <= s.status < 300)
                time.sleep(2.0)  # the queue drains before speed-to-lead is timed
                sender = Sender(procs.web.url, procs.fake.url, profile.lead_timeout)
                sender.seen = len(procs.fake.leads())
                stl_times = []
                for body in stl:
                    sent = sender.send_and_wait(body)
                    if sent["arrived"]:
                        stl_times.append(sent["arrived"] - sent["sent"])
                    time.sleep(profile.stl_pause)
                sender.close()
                result.latency[f"speed_to_lead_{label}"] = summarize(stl_times)
                result.info[f"rss_{label}"] = rss.stop()
                result.info[f"slow_attack_{label}"] = slow_attack(procs, attack)
    after = result.info["slow_attack_after_front"]
    result.check(
        "attack_webhooks_answered_within_1s_after",
        after["webhooks_within_1s"],
        f"== {SLOW_WEBHOOKS}",
        after["webhooks_within_1s"] == SLOW_WEBHOOKS,
    )
    result.check(
        "attack_healthz_all_within_1s_after",
        after["healthz_max_ms"],
        "< 1000",
        after["healthz_max_ms"] is not None and after["healthz_max_ms"] < 1000,
    )
    result.check(
        "attack_leads_delivered_after",
        after["leads_delivered"],
        f"== {SLOW_WEBHOOKS}",
        after["leads_delivered"] == SLOW_WEBHOOKS,
    )
    result.info["conditions"] = "SQLite, one worker with 8 threads, fake Engage without rate limits, 2 shared CPUs"
    return result


def slow_attack(procs: stack.Stack, bodies: list[bytes]) -> dict:
    """Hold SLOW_HEADER + SLOW_BODY slow sockets for SLOW_SECONDS; time webhooks and /healthz meanwhile."""
    already = len(procs.fake.leads())
    slow = SlowClients("127.0.0.1", procs.web.port, SLOW_HEADER, SLOW_BODY, path="/webhooks/hubspot").start()
    acks, health, statuses = [], [], []
    try:
        time.sleep(1.5)
        deadline = time.monotonic() + SLOW_SECONDS
        interval = SLOW_SECONDS / len(bodies)
        for body in bodies:
            if time.monotonic() > deadline + 5:
                break  # a starved front (gthread): the rest counts as not answered, the run stays bounded
            started = time.perf_counter()
            try:
                statuses.append(
                    requests.post(
                        f"{procs.web.url}/webhooks/hubspot", data=body, headers=HEADERS, timeout=2
                    ).status_code
                )
            except requests.RequestException:
                statuses.append(0)
            acks.append(time.perf_counter() - started)
            status, seconds = timed_get(f"{procs.web.url}/healthz", timeout=2)
            health.append(seconds if status == 200 else 2.0)
            time.sleep(max(0.0, min(interval - acks[-1] - seconds, deadline - time.monotonic())))
        held = len(slow.socks)
    finally:
        slow.stop()
    wait_until = time.monotonic() + 30
    delivered = 0
    while time.monotonic() < wait_until:
        delivered = len(procs.fake.leads()) - already
        if delivered >= SLOW_WEBHOOKS or not any(s == 202 for s in statuses):
            break
        time.sleep(0.5)
    return {
        "slow_sockets": held,
        "reopened_by_deadline": slow.reopened,
        "webhooks_sent": len(statuses),
        "webhooks_202": statuses.count(202),
        "webhooks_within_1s": sum(1 for a, s in zip(acks, statuses, strict=True) if s == 202 and a < 1.0),
        "webhook_max_ms": round(max(acks) * 1000, 1),
        "healthz_checks": len(health),
        "healthz_max_ms": round(max(health) * 1000, 1),
        "leads_delivered": delivered,
    }


def run_rows(name: str, title: str, profile: Profile) -> Result:
    """PostgreSQL ack median: empty table, ROWS lead rows, ROWS rows without the 0002 index."""
    import psycopg

    result = Result(name, title)
    factory = BodyFactory()
    per_step = 200 if profile.name == "full" else 60
    with workdir(name) as tmp, databases.fresh("postgresql", tmp) as db:
        config = config_file.write(tmp, unthrottled=True)
        with stack.running(log_dir(name), db.url, config, mode="inline", strict=False) as procs:
            url = f"{procs.web.url}/webhooks/hubspot"
            session = requests.Session()
            offset = [0]

            def measure(label: str) -> None:
                """Sequential webhooks (new records), client-observed ack times."""
                bodies = [b for _, b in factory.batch(offset[0], per_step + 10, hot_every=None)]
                offset[0] += per_step + 10
                times = []
                for i, body in enumerate(bodies):
                    started = time.perf_counter()
                    session.post(url, data=body, headers=HEADERS, timeout=30).raise_for_status()
                    if i >= 10:  # the first ten warm the connection and the plans
                        times.append(time.perf_counter() - started)
                result.latency[f"ack_{label}"] = summarize(times)
                result.info[f"ack_median_ms_{label}"] = round(statistics.median(times) * 1000, 2)

            measure("empty_table")
            started = time.monotonic()
            with psycopg.connect(db.url, autocommit=True) as conn:
                inserted = conn.execute(
                    "INSERT INTO events (source, received_at, method, path, status) "
                    "VALUES ('hubspot', 0, 'POST', '/', 'accepted') RETURNING id"
                ).fetchone()
                assert inserted is not None  # INSERT … RETURNING answers one row
                event = inserted[0]
                conn.execute(
                    "INSERT INTO leads (event_id, source, record_key, extern_id, status, priority, campaign, sandbox, "
                    "received_at, updated_at, next_attempt_at, attempts, claims) "
                    f"SELECT %s, 'hubspot', 'k:fill' || g, 'fill' || g, '{LeadStatus.DELIVERED}', 'NORMAL', "
                    "'Inbound Leads', false, "
                    "extract(epoch from now()) - 90000 - g, 0, 0, 0, 0 FROM generate_series(1, %s) g",
                    (event, ROWS),
                )
                conn.execute("ANALYZE leads")
            result.info["fill_seconds"] = round(time.monotonic() - started, 1)
            result.info["rows"] = ROWS
            measure(f"{ROWS}_rows")
            with psycopg.connect(db.url, autocommit=True) as conn:
                conn.execute("DROP INDEX ix_leads_source_record_key")
            measure(f"{ROWS}_rows_without_0002_index")
            session.close()
    empty, full = result.info["ack_median_ms_empty_table"], result.info[f"ack_median_ms_{ROWS}_rows"]
    result.check("ack_median_flat_to_1M_rows", round(full - empty, 2), "< 5 ms more than empty", full - empty < 5.0)
    result.info["conditions"] = "PostgreSQL (shared), one gunicorn worker, sequential requests, 2 shared CPUs"
    return result
