"""Issue 18 findings 5, 6, 7 and 10 over real sockets against gunicorn's front (front.py).

Half-closed requests are answered; aborted ones are logged as aborted; the access log escapes control
characters and masks path-segment tokens (as events.path does); parser leniencies are refused.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

from harness.processes import ServiceProcess, wait_for
from tests.lanes import process_fixture
from tests.stack import lead_body, start_stack, stop_all

TOKEN = "path-secret-token-5f2a9c"
CONFIG = f"""
defaults:
  campaign: "Inbound Leads"
  suppress_within: 0
sources:
  web:
    type: hubspot
    token: {TOKEN}
"""


@pytest.fixture(scope="module")
@process_fixture
def service(tmp_path_factory):
    """gunicorn with the access log on, SQLite, one worker; (process, database file)."""
    tmp = tmp_path_factory.mktemp("front")
    (tmp / "leadrelay.yml").write_text(CONFIG)
    # One stack for the whole module, so not the per-test `procs`: its own list, stopped here.
    started: list[Any] = []
    try:
        running = start_stack(
            started, tmp, f"sqlite:///{tmp / 'lr.db'}", GUNICORN_ACCESS_LOG="-", REQUEST_BODY_TIMEOUT="5"
        )
        yield running.web, tmp / "lr.db"
    finally:
        stop_all(started)


def exchange(proc: ServiceProcess, data: bytes, half_close: bool = False, timeout: float = 10.0) -> bytes:
    """Send raw bytes on a fresh connection and read until the server closes (or `timeout`)."""
    with socket.create_connection(("127.0.0.1", proc.port), timeout=timeout) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            answer += chunk
            if not half_close and b"\r\n\r\n" in answer and b"connection: close" not in answer.lower():
                break
    return answer


def log_bytes(proc: ServiceProcess) -> bytes:
    """The whole process log (access log included), as bytes."""
    return proc.log_path.read_bytes()


def post(path: str, body: bytes, extra: str = "") -> bytes:
    """A complete webhook POST with the source token in its header."""
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"X-Leadrelay-Token: {TOKEN}\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    )
    return head.encode() + body


def stored_paths(db: Path) -> list[str]:
    """events.path of every stored event."""
    with sqlite3.connect(db) as conn:
        return [row[0] for row in conn.execute("SELECT path FROM events ORDER BY id")]


def test_a_half_closed_request_is_answered_and_stored(service):
    """Complete request, then shutdown(SHUT_WR) at once: every one answered 202 and stored (was: no answer)."""
    proc, db = service
    before = len(stored_paths(db))
    answers = [exchange(proc, post("/webhooks/web/half", lead_body(9000 + n)), half_close=True) for n in range(10)]
    assert all(a.startswith(b"HTTP/1.1 202") for a in answers), [a[:40] for a in answers]
    assert len(stored_paths(db)) == before + 10


@pytest.mark.process  # gunicorn on PostgreSQL
def test_a_half_closed_request_is_answered_and_stored_on_postgresql(tmp_path, pg_url, stack):
    """The reported case: 20 of 20 half-closed requests went unanswered on PostgreSQL."""
    from sqlalchemy import create_engine, text

    from config import normalize_database_url

    (tmp_path / "leadrelay.yml").write_text(CONFIG)
    proc = stack(pg_url).web
    answers = [exchange(proc, post("/webhooks/web/half", lead_body(9200 + n)), half_close=True) for n in range(20)]
    proc.terminate()  # stopped before the count, so the service can change nothing after it
    assert all(a.startswith(b"HTTP/1.1 202") for a in answers), [a[:40] for a in answers]
    engine = create_engine(normalize_database_url(pg_url))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM events WHERE path = '/webhooks/web/half'")).scalar() == 20
    engine.dispose()


def test_a_client_leaving_mid_body_is_logged_aborted_not_500(service):
    """Headers promise 1000 bytes, 10 arrive, the client closes: the access log says aborted."""
    proc, _ = service
    head = "POST /webhooks/web/aborted-body HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    with socket.create_connection(("127.0.0.1", proc.port), timeout=5) as sock:
        sock.sendall(f"{head}Content-Length: 1000\r\n\r\n".encode() + b'{"vid": 1,')
        time.sleep(0.2)
    wait_for(lambda: b"aborted-body" in log_bytes(proc), 10, message="the aborted request logged")
    [line] = [ln for ln in log_bytes(proc).splitlines() if b"aborted-body" in ln]
    assert b"aborted" in line.split(b'"')[-1] and b" 500 " not in line, line


def test_the_access_log_escapes_control_characters(service):
    """%0a, ESC and NUL in a path cannot forge a line or reach a terminal raw."""
    proc, _ = service
    exchange(
        proc, b"GET /healthz%0a127.0.0.1%20%22GET%20/forged%22%20200%201%1b[31m%00/end HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    wait_for(lambda: b"/end" in log_bytes(proc), 10, message="the request logged")
    log = log_bytes(proc)
    assert b"\x1b" not in log and b"\x00" not in log
    assert not [ln for ln in log.splitlines() if ln.startswith(b'127.0.0.1 "GET /forged"')]
    assert b"\\n" in next(ln for ln in log.splitlines() if b"/end" in ln)


def test_a_token_in_the_path_is_masked_in_storage_and_in_the_access_log(service):
    """/webhooks/web/<token>: accepted, but neither events.path nor the access log holds the token."""
    proc, db = service
    answer = exchange(proc, post(f"/webhooks/web/{TOKEN}/x?token={TOKEN}", lead_body(9100)))
    assert answer.startswith(b"HTTP/1.1 202"), answer[:200]
    path = stored_paths(db)[-1]
    assert TOKEN not in path and path.startswith("/webhooks/web/***/x"), path
    wait_for(lambda: b"/webhooks/web/***/x" in log_bytes(proc), 10, message="the masked path logged")
    assert TOKEN.encode() not in log_bytes(proc)


@pytest.mark.parametrize("coding", ["gzip, chunked", "deflate, chunked", "br, chunked"])
def test_unknown_transfer_codings_are_501(service, coding):
    """Only chunked is understood; a body under any other coding would be stored undecoded."""
    proc, db = service
    before = len(stored_paths(db))
    body = b'{"vid": 1}'
    request = post("/webhooks/web/te", b"", f"Transfer-Encoding: {coding}\r\n").replace(b"Content-Length: 0\r\n", b"")
    answer = exchange(proc, request + f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 501"), answer[:200]
    assert len(stored_paths(db)) == before


def test_http11_without_host_is_400(service):
    """RFC 9112 section 3.2: a server MUST answer 400 to an HTTP/1.1 request without Host."""
    proc, _ = service
    answer = exchange(proc, b"GET /healthz HTTP/1.1\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert exchange(proc, b"GET /healthz HTTP/1.0\r\n\r\n").split(b" ")[1] == b"200"  # Host is optional in 1.0


def test_an_oversized_chunk_size_is_413_at_once(service):
    """A chunk size past any max_body is refused as soon as it is read, not after the body deadline."""
    proc, _ = service
    request = post("/webhooks/web/chunk", b"", "Transfer-Encoding: chunked\r\n").replace(b"Content-Length: 0\r\n", b"")
    started = time.monotonic()
    answer = exchange(proc, request + b"ffffffffffff\r\n", timeout=8)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert time.monotonic() - started < 2.0


@pytest.mark.parametrize(
    "raw",
    [
        b"GET /healthz HTTP/1.1\r\nHost: x\rX-Marker-Echo: 1\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Marker-Echo\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Marker-Echo : 1\r\n\r\n",
        b"GET /he\x01lthz-X-Marker-Echo HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ids=["bare-cr", "no-colon", "space-before-colon", "control-in-target"],
)
def test_error_bodies_never_echo_request_bytes(service, raw):
    """A refused request's answer names the problem, never quotes what was sent."""
    proc, _ = service
    answer = exchange(proc, raw)
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"Marker" not in answer and b"Echo" not in answer, answer
