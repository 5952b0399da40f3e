"""Alerts end to end: PostgreSQL, two gunicorn workers, a `flask dispatch run` worker, the fake Engage
on a real socket and a local receiver. Every process evaluates alerts; the receiver gets one copy."""

from __future__ import annotations

import time
from collections import Counter
from itertools import pairwise

import pytest
import requests

from harness import fake_engage
from harness.processes import wait_for
from tests.admin.helpers import CONFIG, SOURCE_TOKEN, lead_body

# A fake Engage and an alert receiver on loopback sockets.
pytestmark = pytest.mark.process


def post(url: str, n: int) -> None:
    """One webhook."""
    response = requests.post(
        f"{url}/webhooks/hubspot",
        data=lead_body(n),
        timeout=10,
        headers={"Content-Type": "application/json", "X-Leadrelay-Token": SOURCE_TOKEN},
    )
    assert response.status_code == 202, response.text


def config(receiver) -> str:
    """Short probes and budgets so each phase takes seconds, alerts checked twice a second."""
    return (
        CONFIG.replace("  hold_probe: 1s\n", "  hold_probe: 1s\n  retry_budget: 4s\n")
        + f"""
alerts:
  webhook: {receiver.url}
  backlog_max_age: 3s
  repeat_every: 1h
  check_every: 0.5s
  dispatcher_grace: 5s
"""
    )


@pytest.fixture
def engage():
    """A fake Engage in this process (so the test can revoke its credentials)."""
    return fake_engage.HarnessEngage(campaigns=["Inbound Leads", "Hot Inbound"])


@pytest.fixture
def engage_server(engage):
    """The fake Engage on a loopback port (the test stops it to make Engage unreachable)."""
    server = fake_engage.serve(engage)
    yield server
    server.stop()


def test_auth_outage_and_dead_lead_alerts_reach_the_receiver_once(
    tmp_path, pg_url, receiver, engage, engage_server, stack
):
    """Credentials revoked → one engage_auth, resolved once leads flow; Engage down → engage_outage or
    backlog_stale, and the lead that dies → lead_dead; three evaluating processes, one copy each."""
    (tmp_path / "leadrelay.yml").write_text(config(receiver))
    url = engage_server.url
    # The Engage is this process's (the test revokes its credentials and stops it), not a fake process.
    live = {
        "ENGAGE_MODE": "live",
        "ENGAGE_BASE_URL": url,
        "RINGCENTRAL_SERVER_URL": url,
        "ENGAGE_ACCOUNT_ID": fake_engage.DEFAULT_ACCOUNT_ID,
        "RINGCENTRAL_CLIENT_ID": fake_engage.DEFAULT_CLIENT_ID,
        "RINGCENTRAL_CLIENT_SECRET": fake_engage.DEFAULT_CLIENT_SECRET,
        "RINGCENTRAL_JWT": fake_engage.DEFAULT_JWT,
        "CALLING_WINDOWS": "off",  # live mode at any hour: the windows have their own tests
    }
    running = stack(pg_url, engage=live, workers=1, WEB_CONCURRENCY="2", GUNICORN_THREADS="4")
    web, worker = running.web, running.workers[0]
    # 1. Credentials revoked: Engage refuses the client secret.
    good = engage.client_secret
    engage.client_secret = "rotated-by-someone"
    engage.reset(revoke_tokens=True)
    started = time.time()
    post(web.url, 1)
    wait_for(lambda: receiver.of("engage_auth", "firing"), 60, interval=0.2, message="engage_auth firing")
    assert time.time() - started < 60
    firing = receiver.of("engage_auth", "firing")[0]
    assert "credentials" in firing["text"] and firing["details"]["held"] >= 1
    # 2. Fixed: the held lead is delivered and the alert resolves.
    engage.client_secret = good
    wait_for(lambda: len(engage.leads()) == 1, 30, message="held lead delivered after the fix")
    wait_for(lambda: receiver.of("engage_auth", "resolved"), 30, interval=0.2, message="engage_auth resolved")
    # 3. Engage down: the waiting lead ages, then dies of its retry budget.
    engage_server.stop()
    down = time.time()
    post(web.url, 2)
    wait_for(
        lambda: receiver.of("engage_outage", "firing") or receiver.of("backlog_stale", "firing"),
        60,
        interval=0.2,
        message="engage_outage or backlog_stale",
    )
    assert time.time() - down < 60
    wait_for(lambda: receiver.of("lead_dead", "firing"), 60, interval=0.2, message="lead_dead")
    assert receiver.of("lead_dead", "firing")[0]["details"]["dead"] == 1
    time.sleep(2)  # let every process evaluate a few more rounds: still one copy each
    # Every evaluating process stopped before counting: no copy can arrive after the count.
    worker.kill9()
    web.kill9()
    copies = Counter((m["alert"], m["state"]) for m in receiver.messages)
    assert copies[("engage_auth", "firing")] == 1 and copies[("engage_auth", "resolved")] == 1, copies
    assert copies[("lead_dead", "firing")] == 1, copies
    # One copy per change: per condition, firing and resolved alternate (repeat_every is 1 h), so
    # no process ever announced a change another had already sent.
    sequences: dict[str, list[str]] = {}
    for m in receiver.messages:
        sequences.setdefault(m["details"]["key"], []).append(m["state"])
    for key, states in sequences.items():
        assert states[0] == "firing" and all(a != b for a, b in pairwise(states)), (key, states)
    assert all(isinstance(m["text"], str) and m["text"] for m in receiver.messages)
