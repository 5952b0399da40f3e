"""Dispatch under pressure, end to end (gunicorn / `flask dispatch run`, fake Engage process, real DBs).

Each test counts leads at the fake Engage: every lead delivered, and the duplicates at-least-once
produced (target zero; the bound is one in-flight batch per failover — see docs/operations.md)."""

from __future__ import annotations

import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import create_engine, text

from harness.processes import wait_for
from tests.stack import extern_ids, lead_body, post, statuses

# Real processes: gunicorn, `flask dispatch run`, the fake Engage.
pytestmark = pytest.mark.process

CONFIG = """
defaults:
  campaign: "Inbound Leads"
  suppress_within: 0
dispatch:
  lease_seconds: {lease}
  backoff_base: 0.2
  backoff_cap: 2s
  poll_interval: 0.5
sources:
  hubspot:
    type: hubspot
    token: e2e-token
    routes:
      - when: {{hubspotscore: {{gte: 80}}}}
        priority: IMMEDIATE
        campaign: "Hot Inbound"
      - priority: NORMAL
"""


def workdir_with(tmp_path, lease=4):
    """Write the config with the given lease length."""
    (tmp_path / "leadrelay.yml").write_text(CONFIG.format(lease=lease))
    return tmp_path


def send_all(service, numbers, threads=8):
    """POST one webhook per number from `threads` client threads; every answer must be 202."""
    with ThreadPoolExecutor(threads) as pool:
        codes = list(pool.map(lambda n: post(service, lead_body(n)).status_code, numbers))
    assert Counter(codes) == Counter({202: len(numbers)})


def duplicates(fake) -> int:
    """Loads beyond the first per externId."""
    return sum(count - 1 for count in extern_ids(fake).values())


def test_burst_against_strict_limits_has_no_429(tmp_path, stack, sqlite_url):
    """600 hot leads from 8 threads into a strict fake (30/10 s, 120/60 s): all loaded, zero 429s, no duplicates."""
    workdir_with(tmp_path)
    running = stack(sqlite_url, "--strict")
    fake, service = running.fake, running.web
    send_all(service, range(600))
    wait_for(lambda: len(extern_ids(fake)) == 600, 60, interval=0.2, message="600 leads loaded")
    stats = fake.stats()
    assert stats["loader_429"] == 0 and stats["http_429"] == 0
    assert stats["loader_calls"] <= 30, "a burst must ride full batches, not spend the window"
    assert duplicates(fake) == 0


def test_standby_takes_over_mid_burst_on_postgres(tmp_path, stack, pg_url):
    """Web dynos + 2 dispatcher workers on PostgreSQL; kill -9 the active one mid-burst: all delivered,
    duplicates bounded by one in-flight batch."""
    workdir_with(tmp_path)
    running = stack(pg_url, workers=2, WEB_CONCURRENCY="2")
    fake, web, workers = running.fake, running.web, running.workers
    send_all(web, range(1))
    wait_for(lambda: len(extern_ids(fake)) == 1, 15, message="first lead")
    fake.control("POST", "faults", json={"latency": 0.05})  # slow Engage a little so the burst is in flight
    engine = create_engine(pg_url)
    with ThreadPoolExecutor(1) as background:
        burst = background.submit(send_all, web, range(1, 301))
        wait_for(lambda: len(extern_ids(fake)) >= 40, 30, message="burst under way")
        with engine.connect() as conn:
            holder = conn.execute(text("SELECT holder FROM dispatcher_lease")).scalar_one()
        leader = next(w for w in workers if f":{w.pid}:" in holder)
        leader.kill9()
        burst.result()
    wait_for(lambda: len(extern_ids(fake)) == 301, 60, interval=0.2, message="all 301 delivered after failover")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT holder FROM dispatcher_lease")).scalar() != holder
    engine.dispose()
    assert duplicates(fake) <= 50, "at most one in-flight batch is re-sent per failover"
    assert fake.stats()["loader_429"] == 0


def test_sigterm_during_a_batch_settles_it(tmp_path, stack, sqlite_url):
    """SIGTERM while a call is in flight: the call finishes and settles, the lease is released, a restart
    re-sends nothing."""
    workdir_with(tmp_path)
    running = stack(sqlite_url)
    fake, service = running.fake, running.web
    send_all(service, range(1))
    wait_for(lambda: len(extern_ids(fake)) == 1, 10, message="warm-up")
    fake.control("POST", "faults", json={"hang": 1.5, "hang_after": True})  # loads land, then the answer is slow
    send_all(service, range(1, 6), threads=1)
    wait_for(lambda: len(extern_ids(fake)) >= 2, 10, message="a call in flight")
    code = service.terminate(timeout=25)
    assert code == 0
    counts = statuses(sqlite_url)
    assert counts["sending"] == 0, f"a sent call was abandoned: {counts}"
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT holder FROM dispatcher_lease")).scalar() is None
    engine.dispose()
    fake.control("POST", "faults/clear")
    running.restart_web()  # a new web process on the same port (the terminated one has exited)
    wait_for(lambda: len(extern_ids(fake)) == 6, 20, message="the rest delivered after restart")
    wait_for(lambda: statuses(sqlite_url)["delivered"] == 6, 10, message="all settled")
    assert duplicates(fake) == 0


def test_expiring_tokens_during_a_steady_stream(tmp_path, stack, sqlite_url):
    """RingCX tokens that live 3 s: a 12 s stream of leads is delivered without a lost lead or an exchange storm."""
    workdir_with(tmp_path)
    running = stack(sqlite_url, "--token-ttl", "3")
    fake, service = running.fake, running.web
    started = time.time()
    n = 0
    while time.time() - started < 12:
        assert post(service, lead_body(n)).status_code == 202
        n += 1
        time.sleep(0.25)
    wait_for(lambda: len(extern_ids(fake)) == n, 20, message=f"{n} leads delivered")
    stats = fake.stats()
    assert stats["exchanges"] <= 5 and stats["exchange_429"] == 0
    assert stats["refreshes"] >= 2  # the token was renewed ahead of expiry, not re-exchanged
    assert statuses(sqlite_url)["delivered"] == n and duplicates(fake) == 0
