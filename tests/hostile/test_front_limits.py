"""The front's memory and shutdown limits: the real gunicorn front, real sockets, the worker's RSS from /proc.

Reproductions (issue 8 review): a connection that pipelines requests and never reads the answers grew the
worker 101 -> 311 MB in 12 s; 150 sockets each holding a 1 MiB body grew it 75 -> 230 MB; a request whose
body was still arriving at SIGTERM was dropped without an answer."""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import time
from pathlib import Path

import pytest
import requests

from harness.processes import FakeEngageProcess, ServiceProcess, wait_for
from tests.stack import lead_body

# gunicorn and raw client sockets.
pytestmark = pytest.mark.process

CONFIG = """
defaults:
  campaign: "Inbound Leads"
  suppress_within: 0
sources:
  hubspot:
    type: hubspot
    token: front-token
    priority: IMMEDIATE
"""
HEADERS = "Content-Type: application/json\r\nX-Leadrelay-Token: front-token\r\n"
ADMIN_TOKEN = "front-admin-token"  # the OpenAPI document (a large answer) is behind admin auth


@pytest.fixture
def service(tmp_path: Path):
    """The service under gunicorn (SQLite, one worker) with short write/body deadlines and a 16 MB body budget."""
    (tmp_path / "leadrelay.yml").write_text(CONFIG)
    fake = FakeEngageProcess().start()
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'lr.db'}",
        "LEADRELAY_CONFIG": str(tmp_path / "leadrelay.yml"),
        **fake.env(),
        "REQUEST_HEADER_TIMEOUT": "5",
        "REQUEST_BODY_TIMEOUT": "5",
        "RESPONSE_WRITE_TIMEOUT": "3",
        "REQUEST_BODY_BUDGET_MB": "16",
        "ADMIN_TOKEN": ADMIN_TOKEN,
    }
    proc = ServiceProcess(env, tmp_path / "service.log").start()
    yield proc, fake
    proc.kill9()
    fake.stop()


def worker_pid(master: int) -> int:
    """The (single) gunicorn worker of a master process."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    assert len(children) == 1, children
    return int(children[0])


def rss_mb(pid: int) -> float:
    """Resident memory of a process in MB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for {pid}")


def healthz_seconds(url: str) -> float:
    """Seconds /healthz takes to answer 200 (99 when it does not)."""
    started = time.perf_counter()
    try:
        ok = requests.get(f"{url}/healthz", timeout=5).status_code == 200
    except requests.RequestException:
        ok = False
    return time.perf_counter() - started if ok else 99.0


def test_pipelining_client_that_never_reads_is_bounded_and_closed(service):
    """Pipelined requests whose answers are never read: the worker stops reading, memory stays flat,
    and the write deadline closes the connection."""
    proc, _ = service
    worker = worker_pid(proc.proc.pid)
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    requests.get(f"{proc.url}/admin/api/openapi.json", headers=auth, timeout=5)  # warm: the document is built once
    before = rss_mb(worker)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", proc.port))
    sock.setblocking(False)
    burst = (
        f"GET /admin/api/openapi.json HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\r\n".encode() * 200
    )
    sent, peak, closed_after = 0, before, None
    started = time.monotonic()
    try:
        while time.monotonic() - started < 8.0:
            try:
                sent += sock.send(burst)
            except BlockingIOError:
                time.sleep(0.01)
            except OSError as exc:  # the server closed the connection (write deadline)
                assert exc.errno in (errno.EPIPE, errno.ECONNRESET), exc
                closed_after = time.monotonic() - started
                break
            peak = max(peak, rss_mb(worker))
        health = healthz_seconds(proc.url)
    finally:
        sock.close()
    print(
        f"\nno-read pipelining: sent {sent / 1e6:.1f} MB, worker RSS {before:.0f} -> peak {peak:.0f} MB, "
        f"closed after {closed_after} s, /healthz {health * 1000:.0f} ms"
    )
    assert peak - before < 30, f"worker grew {peak - before:.0f} MB"
    assert closed_after is not None and closed_after < 7.5, "the write deadline did not close the connection"
    assert health < 1.0


def test_held_bodies_stay_within_the_worker_budget(service):
    """Sockets that each send a 1 MiB body and hold: past the 16 MB budget they get 503 + Retry-After,
    the worker's memory stays bounded, and a small webhook is still stored."""
    proc, fake = service
    worker = worker_pid(proc.proc.pid)
    before = rss_mb(worker)
    payload = b"a" * (1024 * 1024 - 10)
    head = f"POST /webhooks/hubspot HTTP/1.1\r\nHost: x\r\n{HEADERS}Content-Length: 1048576\r\n\r\n".encode()
    socks: list[socket.socket] = []
    refused = 0
    try:
        for _ in range(60):
            sock = socket.create_connection(("127.0.0.1", proc.port), timeout=2)
            socks.append(sock)
            with contextlib.suppress(OSError):  # refused and closed before the whole body went out
                sock.sendall(head + payload)
        time.sleep(1.0)
        held = rss_mb(worker)
        for sock in socks:
            sock.settimeout(0.5)
            try:
                answer = sock.recv(4096)
            except OSError:
                continue
            if answer.startswith(b"HTTP/1.1 503"):
                assert b"retry-after" in answer.lower(), answer[:200]
                refused += 1
        webhook = requests.post(
            f"{proc.url}/webhooks/hubspot",
            data=lead_body(1),
            timeout=5,
            headers={"Content-Type": "application/json", "X-Leadrelay-Token": "front-token"},
        )
        health = healthz_seconds(proc.url)
    finally:
        for sock in socks:
            sock.close()
    print(
        f"\n60 sockets x 1 MiB held: worker RSS {before:.0f} -> {held:.0f} MB, {refused} answered 503, "
        f"webhook {webhook.status_code}, /healthz {health * 1000:.0f} ms"
    )
    assert held - before < 35, f"worker grew {held - before:.0f} MB"
    assert refused >= 30, refused
    assert webhook.status_code == 202
    assert health < 1.0
    wait_for(lambda: len(fake.leads()) >= 1, timeout=30, message="the small webhook's lead delivered")


def test_sigterm_answers_a_request_whose_body_is_still_arriving(service, tmp_path):
    """SIGTERM while a webhook's body is half sent: the body is awaited, the lead stored and answered 202."""
    proc, _ = service
    body = lead_body(2)
    sock = socket.create_connection(("127.0.0.1", proc.port), timeout=10)
    idle = socket.create_connection(("127.0.0.1", proc.port), timeout=10)  # must not hold the exit
    try:
        sock.sendall(
            f"POST /webhooks/hubspot HTTP/1.1\r\nHost: x\r\n{HEADERS}Content-Length: {len(body)}\r\n\r\n".encode()
            + body[:10]
        )
        time.sleep(0.5)
        started = time.monotonic()
        os.killpg(proc.proc.pid, signal.SIGTERM)
        time.sleep(2.0)  # past the worker's 1 s look at `alive`: it is shutting down meanwhile
        sock.sendall(body[10:])
        answer = sock.recv(4096)
        proc.proc.wait(20)
        exited = time.monotonic() - started
    finally:
        sock.close()
        idle.close()
    print(f"\nmid-body at SIGTERM: answer {answer[:12]!r}, exit after {exited:.2f} s")
    assert answer.startswith(b"HTTP/1.1 202"), answer[:200]
    assert exited < 10
    assert proc.proc.returncode == 0
    from sqlalchemy import create_engine, text

    engine = create_engine(f"sqlite:///{tmp_path / 'lr.db'}")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM events")).scalar() == 1  # stored before the 202
    engine.dispose()
