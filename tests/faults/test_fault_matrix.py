"""The fault matrix: each case runs the real stack through one fault while a sender posts 1 lead/s,
and asserts leadrelay's promise — every lead answered 2xx is delivered exactly once, none `dead`,
no restart and no operator action — then prints its figure (sent, delivered, duplicates, dead,
recovery time). `make test` runs short durations; `make soak` (LEADRELAY_SOAK=1) the long ones."""

from __future__ import annotations

import sqlite3
import threading
import time
from urllib.parse import urlsplit

import pytest
import requests

from harness.processes import wait_for
from harness.tcp_proxy import TcpProxy
from tests.faults.matrix import SOAK, Figure, Sender, fault_stack, finish, warm_up
from tests.stack import Stack, extern_ids

# The fault matrix: real processes and real faults (full length under `make soak`).
pytestmark = pytest.mark.soak

# Durations per scale. Short: seconds, so `make test` stays quick; soak: the full durations of docs/operations.md's fault matrix, on the
# service's default call timeout and outage probe cap (30 s each).
if SOAK:
    DEFAULTS = {"probe_cap": 30, "call_timeout": 30, "backoff_cap": 300}  # the service's own defaults
    ENGAGE = dict(seconds=180, leads=40, within=40, **DEFAULTS)
    HANG = dict(seconds=30, leads=20, within=40, **DEFAULTS)
    TOKENS = dict(seconds=60, leads=20, within=40, ttl=15, **DEFAULTS)
    PG = {"seconds": 15, "within": 5}
    SQLITE = {"seconds": 30, "within": 10}
else:
    ENGAGE = {"seconds": 5, "leads": 5, "within": 8, "probe_cap": 1, "call_timeout": 2}
    HANG = {"seconds": 5, "leads": 5, "within": 8, "probe_cap": 1, "call_timeout": 2}
    TOKENS = {"seconds": 5, "leads": 5, "within": 8, "probe_cap": 1, "call_timeout": 2, "ttl": 2}
    PG = {"seconds": 5, "within": 5}
    SQLITE = {"seconds": 5, "within": 8}
CASE_TIMEOUT = 900 if SOAK else 120


def engage_fault(tmp_path, procs, db_url, name, fault, scale, kill=None, fake_args=()):
    """Run one Engage-side fault for scale["seconds"] with leads arriving at 1/s; kill -9 mid-fault if asked."""
    worker = kill == "dispatcher"
    stack = fault_stack(
        procs,
        tmp_path,
        db_url,
        db_url,
        mode="worker" if worker else "inline",
        dispatchers=2 if worker else 0,
        fake_args=fake_args,
        probe_cap=scale["probe_cap"],
        call_timeout=scale["call_timeout"],
        backoff_cap=scale.get("backoff_cap", 1.0),
    )
    warm_up(stack)
    stack.fake.control("POST", "faults", json=fault)
    started = time.time()
    sender = Sender(stack.url, scale["leads"]).start()
    time.sleep(scale["seconds"] / 2)
    if kill == "dispatcher":
        stack.kill_leader()
    elif kill == "web":
        stack.restart_web(wait_ready=False)
    time.sleep(max(0.0, started + scale["seconds"] - time.time()))
    stack.fake.control("POST", "faults/clear")
    ended = time.time()
    figure = Figure(f"{name} {scale['seconds']}s" + (f" + kill -9 {kill}" if kill else ""))
    figure.notes["loader_calls"] = stack.fake.stats()["loader_calls"]
    finish(figure, stack, sender, ended, scale["within"])
    if kill != "web":
        assert stack.web.alive(), "the web process died"
    return stack, figure


@pytest.mark.timeout(CASE_TIMEOUT)
@pytest.mark.parametrize("kill", [None, "web"])
def test_engage_503_outage(tmp_path, procs, sqlite_url, kill):
    """Engage answers 503 while hot leads arrive: all delivered after its return, none dead, no duplicates."""
    engage_fault(tmp_path, procs, sqlite_url, "engage 503", {"force_status": 503}, ENGAGE, kill=kill)


@pytest.mark.timeout(CASE_TIMEOUT)
def test_engage_503_outage_kill_dispatcher_on_postgres(tmp_path, procs, pg_url):
    """The same outage with web and two `dispatch run` processes; the leader is killed -9 mid-outage."""
    engage_fault(
        tmp_path, procs, pg_url, "engage 503 (postgres, workers)", {"force_status": 503}, ENGAGE, kill="dispatcher"
    )


@pytest.mark.timeout(CASE_TIMEOUT)
def test_slow_engage_three_seconds_per_call(tmp_path, procs, sqlite_url):
    """Engage takes 3 s per call (longer than the lease's renewal period): no timeouts, no resends,
    both lanes keep moving (the service's default call_timeout)."""
    leads = 20 if SOAK else 5
    stack, _figure = engage_fault(
        tmp_path,
        procs,
        sqlite_url,
        "slow engage (3 s per call)",
        {"latency": 3.0},
        {"seconds": leads, "leads": leads, "within": 15, "probe_cap": 30, "call_timeout": 30, "backoff_cap": 300},
    )
    stats = stack.fake.stats()
    assert stats["loader_calls"] == stats["loader_ok"], "a call failed or timed out"
    assert "fate unknown" not in stack.web.log_tail(3000)


@pytest.mark.timeout(CASE_TIMEOUT)
def test_lead_loader_hangs(tmp_path, procs, sqlite_url):
    """The lead loader accepts calls and never answers (loading nothing): none dead, each lead loaded once."""
    stack, _ = engage_fault(tmp_path, procs, sqlite_url, "loader hang", {"hang": 3600, "hang_drop": True}, HANG)
    assert stack.fake.stats()["hung_calls"] >= 1


@pytest.mark.timeout(CASE_TIMEOUT)
def test_answers_lost_after_loading(tmp_path, procs, sqlite_url):
    """The lead loader loads the leads, then never answers (the client times out): every lead is found
    by leadSearch, none is loaded twice."""
    # The answers stay away longer than a call may take, so calls do time out.
    scale = {**HANG, "seconds": max(HANG["seconds"], HANG["call_timeout"] * 1.5)}
    stack, _figure = engage_fault(
        tmp_path, procs, sqlite_url, "answers lost after loading", {"hang": 3600, "hang_after": True}, scale
    )
    assert stack.fake.stats()["search_calls"] >= 1
    assert "found by lookup" in stack.web.log_tail(3000)


@pytest.mark.timeout(CASE_TIMEOUT)
def test_token_endpoints_down_while_tokens_expire(tmp_path, procs, sqlite_url):
    """RingCentral's token endpoints answer 503 while short-lived tokens expire: an outage, not a hold."""
    stack, _ = engage_fault(
        tmp_path,
        procs,
        sqlite_url,
        f"token endpoints 503 (ttl {TOKENS['ttl']}s)",
        {"auth_status": 503},
        TOKENS,
        fake_args=("--token-ttl", str(TOKENS["ttl"])),
    )
    assert stack.fake.stats()["token_outage_answers"] >= 1
    assert "ALERT" not in stack.web.log_tail(2000), "an outage of the token endpoints is not a credentials problem"


def readyz(stack: Stack) -> tuple[int, dict]:
    """/readyz's status code and body."""
    response = requests.get(f"{stack.url()}/readyz", timeout=15)
    return response.status_code, response.json()


def database_fault(stack: Stack, seconds: float, cut, restore, within: float, name: str, kill=None) -> Figure:
    """Take the database away for `seconds` under a 1 lead/s stream; check intake, /readyz and recovery."""
    warm_up(stack)
    sender = Sender(stack.url, int(seconds) + 6).start()  # 2 s before, the outage, 4 s after
    time.sleep(2)
    cut()
    started = time.time()
    time.sleep(min(2.0, seconds / 2))
    code, body = readyz(stack)
    assert code == 503 and body["database"] == "database unavailable", body
    assert "127.0.0.1" not in str(body) and "psycopg" not in str(body)
    if kill == "dispatcher":
        stack.kill_leader()
    elif kill == "web":
        stack.restart_web(wait_ready=False)
    time.sleep(max(0.0, started + seconds - time.time()))
    restore()
    ended = time.time()
    figure = Figure(name + (f" + kill -9 {kill}" if kill else ""))
    finish(figure, stack, sender, ended, within + 10)
    # Leads posted after the database returned: each delivered within `within` seconds of its 2xx.
    loaded = {lead["extern_id"]: lead["received_at"] for lead in stack.fake.leads()}
    after = [(n, at) for n, at in sender.accepted.items() if at > ended]
    lags = [loaded[str(90000000 + n)] - at for n, at in after]
    figure.notes["after_return_max_lag"] = f"{max(lags, default=0):.2f}s"
    print(
        f"FIGURE {figure.case}: leads posted after the return={len(after)}, "
        f"slowest delivery={max(lags, default=0):.2f}s",
        flush=True,
    )
    assert after, "no lead was posted after the database returned"
    assert max(lags) <= within, f"a lead posted after the return took {max(lags):.1f}s"
    assert sender.slowest < 8, f"an answer took {sender.slowest:.1f}s (503 must come quickly)"
    assert sender.refused >= 1, "the outage was not seen by the sender (no 503)"
    wait_for(lambda: readyz(stack)[0] == 200, 10, message="/readyz ready again")
    # The body tells whether a dispatcher is active: inline, this process's thread; worker mode, a fresh heartbeat.
    wait_for(lambda: readyz(stack)[1]["dispatcher"]["active"] is True, 10, message="a dispatcher reported active")
    if stack.env["DISPATCH_MODE"] == "inline":
        assert readyz(stack)[1]["dispatcher"]["thread_alive"] is True
    return figure


@pytest.mark.timeout(CASE_TIMEOUT)
@pytest.mark.parametrize(
    "kill", [None, "dispatcher", pytest.param("web", marks=pytest.mark.skipif(not SOAK, reason="soak only"))]
)
def test_postgres_gone_under_a_stream(tmp_path, procs, pg_url, kill):
    """PostgreSQL unreachable (proxy cut) with web and `dispatch run` separate: intake answers 503 quickly,
    nothing 2xx is lost, the dispatcher process keeps running and resumes by itself."""
    parts = urlsplit(pg_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    stack = fault_stack(procs, tmp_path, pg_url, proxy.url_for(pg_url), mode="worker", dispatchers=2 if kill else 1)
    try:
        database_fault(
            stack,
            PG["seconds"],
            proxy.cut,
            proxy.restore,
            PG["within"],
            f"postgres gone {PG['seconds']}s (web + dispatch run)",
            kill=kill,
        )
        survivors = [d for d in stack.workers if d.alive()]
        assert len(survivors) == len(stack.workers) - (kill == "dispatcher"), "a dispatcher process exited"
        assert stack.web.alive()
    finally:
        proxy.close()


@pytest.mark.timeout(CASE_TIMEOUT)
@pytest.mark.parametrize("kill", [None, "web"])
def test_sqlite_locked_by_another_writer(tmp_path, procs, sqlite_url, kill):
    """Another process holds SQLite's write lock: intake answers 503 quickly, the dispatcher waits, all resume."""
    stack = fault_stack(procs, tmp_path, sqlite_url, sqlite_url, mode="inline")
    path = sqlite_url.split("sqlite:///", 1)[1]
    holder: dict[str, sqlite3.Connection] = {}
    released = threading.Event()

    def lock():
        """Take the write lock in another connection (like a second process writing)."""
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("BEGIN IMMEDIATE")
        holder["conn"] = conn

    def unlock():
        """Give it back."""
        holder["conn"].execute("ROLLBACK")
        holder["conn"].close()
        released.set()

    database_fault(
        stack, SQLITE["seconds"], lock, unlock, SQLITE["within"], f"sqlite locked {SQLITE['seconds']}s", kill=kill
    )


@pytest.mark.skipif(not SOAK, reason="soak only (make soak)")
@pytest.mark.timeout(1200)
def test_two_hour_outage_time_accelerated(tmp_path, procs, sqlite_url):
    """A 2-hour outage, time-accelerated: the probe cap shrunk from 30 s to 0.5 s, so 120 s of outage
    is the same ~240 failed probes a real 2-hour outage makes. Every lead delivered, none dead."""
    scale = {"seconds": 120, "leads": 40, "within": 10, "probe_cap": 0.5, "call_timeout": 2}
    stack, _figure = engage_fault(
        tmp_path, procs, sqlite_url, "2-hour outage (time-accelerated x60)", {"force_status": 503}, scale
    )
    assert stack.fake.stats()["loader_calls"] >= 100, "the outage was not probed as often as a 2-hour one"


@pytest.mark.skipif(not SOAK, reason="soak only (make soak)")
@pytest.mark.timeout(CASE_TIMEOUT)
def test_forty_second_outage(tmp_path, procs, sqlite_url):
    """The issue's first row: Engage answers 503 for 40 s while 40 hot leads arrive (1/s), on the defaults."""
    engage_fault(
        tmp_path,
        procs,
        sqlite_url,
        "engage 503",
        {"force_status": 503},
        {"seconds": 40, "leads": 40, "within": 40, "probe_cap": 30, "call_timeout": 30, "backoff_cap": 300},
    )


@pytest.mark.skipif(not SOAK, reason="soak only (make soak)")
@pytest.mark.timeout(1500)
def test_ten_minute_outage(tmp_path, procs, sqlite_url):
    """A 10-minute Engage outage on the service's defaults (30 s probe cap and call timeout)."""
    engage_fault(
        tmp_path,
        procs,
        sqlite_url,
        "engage 503",
        {"force_status": 503},
        {"seconds": 600, "leads": 40, "within": 40, "probe_cap": 30, "call_timeout": 30, "backoff_cap": 300},
    )


@pytest.mark.skipif(not SOAK, reason="soak only (make soak)")
@pytest.mark.timeout(CASE_TIMEOUT)
def test_postgres_gone_30s(tmp_path, procs, pg_url):
    """PostgreSQL gone for 30 s under the stream (a row of docs/operations.md's fault matrix), web and `dispatch run` separate."""
    parts = urlsplit(pg_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    stack = fault_stack(procs, tmp_path, pg_url, proxy.url_for(pg_url), mode="worker", dispatchers=1)
    try:
        database_fault(stack, 30, proxy.cut, proxy.restore, 5, "postgres gone 30s (web + dispatch run)")
        assert all(d.alive() for d in stack.workers)
    finally:
        proxy.close()


@pytest.mark.skipif(not SOAK, reason="soak only (make soak)")
@pytest.mark.timeout(CASE_TIMEOUT)
@pytest.mark.parametrize("kill", ["web", "dispatcher"])
@pytest.mark.parametrize("fault", ["hang", "tokens"])
def test_kill9_during_hang_and_token_outage(tmp_path, procs, pg_url, fault, kill):
    """kill -9 of web or dispatcher during the loader hang and during the token-endpoint outage."""
    if fault == "hang":
        engage_fault(tmp_path, procs, pg_url, "loader hang", {"hang": 3600, "hang_drop": True}, HANG, kill=kill)
    else:
        engage_fault(
            tmp_path,
            procs,
            pg_url,
            f"token endpoints 503 (ttl {TOKENS['ttl']}s)",
            {"auth_status": 503},
            TOKENS,
            kill=kill,
            fake_args=("--token-ttl", str(TOKENS["ttl"])),
        )


def test_delivered_leads_are_counted_at_the_fake(tmp_path, procs, sqlite_url):
    """The matrix's own check can fail: a lead answered 2xx that never reaches Engage is reported missing."""
    stack = fault_stack(procs, tmp_path, sqlite_url, sqlite_url, mode="inline")
    warm_up(stack)
    stack.fake.control("POST", "faults", json={"reject_extern_ids": ["90001000"]})
    sender = Sender(stack.url, 1).start()
    sender.join(20)
    with pytest.raises(AssertionError, match="never delivered"):
        # No look past the deadline: the rejected lead never comes, and 30 s more would prove nothing.
        finish(Figure("self-check (a rejected lead counts as missing)"), stack, sender, time.time(), 3, look_past=0)
    assert extern_ids(stack.fake).get("90001000") is None
