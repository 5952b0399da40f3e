"""Slow clients cannot starve the service: the real gunicorn front, real sockets, leads counted at the fake Engage.

The reproduction (issue 8): 8 sockets trickling headers one byte a second held every gthread thread and
every webhook timed out. Scale here: SLOW_SOCKETS (default 120, 4/5 header and 1/5 body tricklers) held
for SLOW_SECONDS (default 6); the issue's full scale is `SLOW_SOCKETS=500 SLOW_SECONDS=20` (make slow).
`GUNICORN_WORKER_CLASS=gthread` runs the same test against the old front: it fails."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest
import requests

from harness.processes import FakeEngageProcess, ServiceProcess, wait_for
from harness.slow_clients import SlowClients, timed_get
from tests.stack import lead_body

# gunicorn and raw client sockets.
pytestmark = pytest.mark.process

SOCKETS = int(os.environ.get("SLOW_SOCKETS", "120"))
SECONDS = float(os.environ.get("SLOW_SECONDS", "6"))
WEBHOOKS = 20

CONFIG = """
defaults:
  campaign: "Inbound Leads"
  suppress_within: 0
sources:
  hubspot:
    type: hubspot
    token: slow-token
    priority: IMMEDIATE
"""


@pytest.fixture
def service(tmp_path):
    """The service under gunicorn (SQLite, one worker as configured) with the fake Engage as live Engage."""
    (tmp_path / "leadrelay.yml").write_text(CONFIG)
    fake = FakeEngageProcess().start()
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'lr.db'}",
        "LEADRELAY_CONFIG": str(tmp_path / "leadrelay.yml"),
        **fake.env(),
        "REQUEST_HEADER_TIMEOUT": "5",
        "REQUEST_BODY_TIMEOUT": "5",
    }
    for key in ("GUNICORN_WORKER_CLASS",):
        if os.environ.get(key):
            env[key] = os.environ[key]
    proc = ServiceProcess(env, tmp_path / "service.log").start()
    yield proc, fake
    proc.kill9()
    fake.stop()


def test_slow_sockets_cost_no_webhook(service):
    """With header- and body-trickling sockets held open, 20/20 webhooks and every /healthz answer within 1 s."""
    proc, fake = service
    slow = SlowClients(
        "127.0.0.1", proc.port, header=SOCKETS * 4 // 5, body=SOCKETS // 5, path="/webhooks/hubspot"
    ).start()
    try:
        time.sleep(1.5)  # every slow socket has sent bytes: gthread would have given each a thread
        ack_times: list[float] = []
        health_times: list[float] = []
        statuses: list[int | None] = []
        deadline = time.monotonic() + SECONDS
        sent = 0
        while time.monotonic() < deadline or sent < WEBHOOKS:
            status, seconds = timed_get(f"{proc.url}/healthz", timeout=5)
            health_times.append(seconds if status == 200 else 99.0)
            if sent < WEBHOOKS:
                started = time.perf_counter()
                try:
                    answer = requests.post(
                        f"{proc.url}/webhooks/hubspot",
                        data=lead_body(7000 + sent),
                        timeout=5,
                        headers={"Content-Type": "application/json", "X-Leadrelay-Token": "slow-token"},
                    )
                    statuses.append(answer.status_code)
                except requests.RequestException:
                    statuses.append(None)
                ack_times.append(time.perf_counter() - started)
                sent += 1
            time.sleep(max(0.0, SECONDS / WEBHOOKS - 0.05))
        held = sum(1 for _ in slow.socks)
    finally:
        slow.stop()
    print(
        f"\n{held} slow sockets ({slow.reopened} reopened after a read deadline) for {SECONDS:g} s: "
        f"{statuses.count(202)}/{WEBHOOKS} webhooks 202, slowest {max(ack_times) * 1000:.1f} ms; "
        f"{len(health_times)} /healthz, slowest {max(health_times) * 1000:.1f} ms"
    )
    assert held >= SOCKETS * 0.95, f"only {held} slow sockets were held"
    assert statuses.count(202) == WEBHOOKS, statuses
    assert max(ack_times) < 1.0, f"slowest webhook {max(ack_times):.3f}s"
    assert max(health_times) < 1.0, f"slowest /healthz {max(health_times):.3f}s"
    wait_for(lambda: len(fake.leads()) >= WEBHOOKS, timeout=30, message="every lead delivered")
    assert len({lead["extern_id"] for lead in fake.leads()}) == WEBHOOKS


def test_idle_and_trickling_connections_are_closed(service):
    """A connection that never finishes its headers gets 408 and is closed by the header deadline."""
    proc, _ = service
    sock = socket.create_connection(("127.0.0.1", proc.port), timeout=10)
    try:
        sock.sendall(b"POST /webhooks/hubspot HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        answer = b""
        while True:
            chunk = sock.recv(4096)
            if not chunk:
                break
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
        assert 4.0 <= time.monotonic() - started < 8.0
    finally:
        sock.close()


def test_slow_body_times_out_and_nothing_is_stored(service, tmp_path):
    """A body that does not arrive within the body deadline is 408; no event, no lead."""
    proc, fake = service
    body = lead_body(1)
    sock = socket.create_connection(("127.0.0.1", proc.port), timeout=15)
    try:
        sock.sendall(
            b"POST /webhooks/hubspot HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"X-Leadrelay-Token: slow-token\r\n" + f"Content-Length: {len(body)}\r\n\r\n".encode() + body[:10]
        )
        answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:80]
    finally:
        sock.close()
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'lr.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM events")).scalar() == 0
    engine.dispose()
    assert json.dumps(fake.leads()) == "[]"


def test_sigterm_is_not_held_by_slow_clients(service):
    """An idle service exits within 10 s of SIGTERM even with slow sockets open (Heroku kills at 30 s)."""
    proc, _ = service
    slow = SlowClients("127.0.0.1", proc.port, header=20, body=20, path="/webhooks/hubspot").start()
    try:
        time.sleep(1.5)
        started = time.monotonic()
        proc.terminate(timeout=30)
        elapsed = time.monotonic() - started
        print(f"exit after SIGTERM: {elapsed:.2f}s")
        assert elapsed < 10
    finally:
        slow.stop()
