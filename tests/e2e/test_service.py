"""End to end: the real service under gunicorn (and `flask dispatch run`), the fake Engage in its own
process, real sockets, real SQLite and PostgreSQL. Every test counts leads at the fake Engage."""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest
import requests
from sqlalchemy import create_engine, text

from harness.processes import FakeEngageProcess, ServiceProcess, wait_for
from tests.builders import fixture_bytes
from tests.stack import extern_ids, lead_body, post, statuses

# Real processes: gunicorn, `flask dispatch run`, the fake Engage.
pytestmark = pytest.mark.process

CONFIG = """
defaults:
  campaign: "Inbound Leads"
  suppress_within: 0
dispatch:
  lease_seconds: 2
  backoff_base: 0.2
  backoff_cap: 1s
  poll_interval: 0.5
sources:
  hubspot:
    type: hubspot
    token: e2e-token
    routes:
      - when: {hubspotscore: {gte: 80}}
        priority: IMMEDIATE
        campaign: "Hot Inbound"
      - priority: NORMAL
"""


@pytest.fixture
def workdir(tmp_path):
    """Config file and log folder for this test."""
    (tmp_path / "leadrelay.yml").write_text(CONFIG)
    return tmp_path


def test_sample_webhook_in_sandbox_mode(tmp_path, procs):
    """`make run` defaults: no Engage variables → sandbox; the README's curl gets 202 and the log says SANDBOX."""
    # The example config and no Engage variables, as on a laptop; only the SQLite file is
    # moved to the test's folder so the repo's instance/ stays untouched.
    service = ServiceProcess(
        {
            "LEADRELAY_CONFIG": "leadrelay.example.yml",
            "ENGAGE_MODE": "sandbox",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'sandbox.db'}",
        },
        tmp_path / "service.log",
    )
    procs.append(service)
    service.start()
    response = requests.post(
        f"{service.url}/webhooks/hubspot",
        data=fixture_bytes("hubspot/workflow_contact_all_properties.json"),
        headers={"Content-Type": "application/json", "X-Leadrelay-Token": "demo-token"},
        timeout=10,
    )
    assert response.status_code == 202, response.text
    assert response.json()["leads"][0]["priority"] == "IMMEDIATE"
    wait_for(lambda: "leads loaded (SANDBOX" in service.log_tail(200), 10, message="sandbox load logged")
    loaded = [
        json.loads(line)
        for line in service.log_tail(200).splitlines()
        if line.startswith("{") and "leads loaded" in line
    ]
    assert loaded[0]["sandbox"] is True and loaded[0]["dial_priority"] == "IMMEDIATE"
    assert requests.get(f"{service.url}/readyz", timeout=5).json()["engage"] == "sandbox"
    # The log masks phone numbers and emails.
    assert "3035550142" not in service.log_tail(500) and "ada.example@example.com" not in service.log_tail(500)


@pytest.mark.parametrize("db", ["sqlite", "postgres"])
def test_kill9_while_engage_is_down_loses_nothing(db, workdir, stack, procs, request):
    """Engage down, 20 leads queued, kill -9 the service, restart, bring Engage back: 20 delivered, none lost."""
    db_url = f"sqlite:///{workdir / 'leadrelay.db'}" if db == "sqlite" else request.getfixturevalue("pg_url")
    running = stack(db_url)
    fake, service = running.fake, running.web
    assert post(service, lead_body(0)).status_code == 202
    wait_for(lambda: extern_ids(fake) == Counter({"90000000": 1}), 10, message="warm-up lead delivered")

    port = fake.port
    fake.stop()  # Engage down: connection refused
    for n in range(1, 21):
        assert post(service, lead_body(n)).status_code == 202
    wait_for(
        lambda: statuses(db_url)["retrying"] + statuses(db_url)["sending"] >= 1, 10, message="dispatch attempts failing"
    )
    service.kill9()
    assert statuses(db_url)["delivered"] == 1
    assert sum(statuses(db_url).values()) == 21

    running.restart_web()  # the platform's restart, on the same port
    time.sleep(1.0)  # Engage still down for a moment after the restart
    # Engage itself comes back (a fault of Engage, not of the stack): a new fake on the old port.
    fake2 = FakeEngageProcess(port=port, log_path=workdir / "fake2.log").start()
    procs.append(fake2)
    wanted = {str(90000000 + n) for n in range(1, 21)}
    wait_for(lambda: wanted <= set(extern_ids(fake2)), 30, message="20 leads delivered after recovery")
    wait_for(lambda: statuses(db_url)["delivered"] == 21, 10, message="all settled delivered")
    duplicates = sum(c - 1 for c in extern_ids(fake2).values())
    assert duplicates == 0, f"{duplicates} duplicate loads"
    assert fake2.stats()["loader_429"] == 0


def test_redelivery_creates_no_second_lead(workdir, stack, sqlite_url):
    """The sender retries the same event: 200 duplicate, and the fake Engage holds one lead."""
    running = stack(sqlite_url)
    fake, service = running.fake, running.web
    first = post(service, lead_body(7))
    second = post(service, lead_body(7))
    assert first.status_code == 202 and second.status_code == 200
    assert second.json() == {"event_id": first.json()["event_id"], "duplicate": True}
    wait_for(lambda: extern_ids(fake) == Counter({"90000007": 1}), 10, message="one delivery")
    time.sleep(0.5)
    assert extern_ids(fake) == Counter({"90000007": 1})


def test_postgres_worker_mode_with_a_standby(workdir, stack, pg_url):
    """N web workers + 2 `flask dispatch run` workers: one leads (LISTEN/NOTIFY wake-up); kill -9 it, the standby delivers."""
    running = stack(pg_url, workers=2, WEB_CONCURRENCY="2")
    fake, web, workers = running.fake, running.web, running.workers
    assert post(web, lead_body(1)).status_code == 202
    wait_for(lambda: "90000001" in extern_ids(fake), 15, message="first lead via worker")

    engine = create_engine(pg_url)
    with engine.connect() as conn:
        holder = conn.execute(text("SELECT holder FROM dispatcher_lease")).scalar_one()
    leader = next(w for w in workers if f":{w.pid}:" in holder)
    leader.kill9()
    killed_at = time.time()
    assert post(web, lead_body(2)).status_code == 202
    wait_for(lambda: "90000002" in extern_ids(fake), 15, message="standby delivers")
    failover = time.time() - killed_at
    with engine.connect() as conn:
        new_holder = conn.execute(text("SELECT holder FROM dispatcher_lease")).scalar()
    engine.dispose()
    assert new_holder != holder
    assert failover < 8, f"failover took {failover:.1f}s"
    assert all(count == 1 for count in extern_ids(fake).values())


def test_sigterm_exits_promptly_and_releases_the_lease(workdir, stack, sqlite_url):
    """An idle service exits within 10 s of SIGTERM and leaves the lease free for a successor."""
    service = stack(sqlite_url).web
    wait_for(lambda: "dispatcher is leader" in service.log_tail(100), 10, message="leader")
    started = time.time()
    service.terminate(timeout=20)
    assert time.time() - started < 10
    engine = create_engine(sqlite_url)
    with engine.connect() as conn:
        holder = conn.execute(text("SELECT holder FROM dispatcher_lease")).scalar()
    engine.dispose()
    assert holder is None
