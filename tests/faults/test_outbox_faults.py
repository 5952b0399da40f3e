"""The outbox under real faults: Engage down, the leading dispatcher killed -9 mid-call, PostgreSQL cut.

Each case runs the real stack (gunicorn web, `flask dispatch run` workers, the fake Engage process,
a real database) and stores opt-out jobs as the opt-out side does (store.outbox.enqueue, one commit
per opt-out). The promise, checked at the fake: every opt-out's number is on Engage's DNC list and
its lead action carried out, each accepted ONCE (no duplicate add, one action per job), none failed.
`make test` runs short outages; `make soak` (LEADRELAY_SOAK=1) Engage down for 3 minutes.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

import pytest

from harness.processes import wait_for
from harness.tcp_proxy import TcpProxy
from store import db
from store.outbox import DONE, ENGAGE_DNC_ADD, ENGAGE_LEAD_ACTION, FAILED, Outbox, enqueue
from tests.faults.matrix import SOAK, fault_stack, warm_up
from tests.figures import FIGURES
from tests.stack import Stack

# Real processes and real faults (an outbox under outages, kill -9, a cut database).
pytestmark = pytest.mark.process

OUTAGE = (
    {"seconds": 180, "within": 40, "probe_cap": 30, "call_timeout": 30}
    if SOAK
    else {
        "seconds": 5,
        "within": 8,
        "probe_cap": 1,
        "call_timeout": 2,
    }
)
CASE_TIMEOUT = 900 if SOAK else 120
WARM_EXTERN = "90000001"  # the warm-up lead (HubSpot vid), loaded before every case


@pytest.fixture
def engines():
    """The test's own engines on the real database, disposed afterwards."""
    yield ENGINES
    for engine in ENGINES:
        engine.dispose()
    ENGINES.clear()


ENGINES: list = []  # engines the test opened on the real database


class OptOuts:
    """Opt-outs stored one per second (or at once), each as its two jobs in one commit."""

    def __init__(self, db_url: str) -> None:
        """Write to the real database (not through a proxy)."""
        self.engine = db.make_engine(db_url)
        ENGINES.append(self.engine)
        self.jobs: list[int] = []
        self.phones: list[str] = []

    def add(self, n: int) -> None:
        """Store opt-out number `n`: a DNC add and a lead action (the warm-up lead for n == 0)."""
        phone = f"+1720555{n:04d}"
        extern = WARM_EXTERN if n == 0 else f"X{n}"
        with db.write(self.engine) as conn:
            self.jobs.append(enqueue(conn, ENGAGE_DNC_ADD, f"dnc:{phone}", {"phones": [phone]}))
            self.jobs.append(
                enqueue(
                    conn,
                    ENGAGE_LEAD_ACTION,
                    f"cancel:{extern}",
                    {"action": "CANCEL_LEADS", "extern_ids": [extern], "campaigns": ["Hot Inbound"], "phones": []},
                )
            )
        self.phones.append(phone[2:])

    def stream(self, count: int, interval: float = 1.0) -> threading.Thread:
        """Store `count` opt-outs at `interval` in a thread."""

        def run() -> None:
            """One per interval."""
            for n in range(count):
                self.add(n)
                time.sleep(interval)

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        return thread

    def done(self) -> bool:
        """Every job done."""
        outbox = Outbox(self.engine)
        return all(getattr(outbox.get(j), "state", None) == DONE for j in self.jobs)


def check(stack: Stack, optouts: OptOuts, ended: float, within: float, name: str) -> None:
    """Every job done within `within` s of the fault's end; each number and action accepted once."""
    deadline = ended + within
    wait_for(optouts.done, max(1.0, deadline - time.time()) + 30, interval=0.2, message="every opt-out done")
    recovery = time.time() - ended
    dnc = stack.fake.control("GET", "dnc")
    actions = stack.fake.control("GET", "actions")["actions"]
    added = [e["phone"] for e in dnc["log"] if not e["duplicate"]]
    duplicates = [e["phone"] for e in dnc["log"] if e["duplicate"]]
    cancelled = [e for a in actions for e in a["criteria"]["externIds"]]
    counts = Outbox(optouts.engine).counts()
    line = (
        f"{name}: opt-outs={len(optouts.phones)} dnc_listed={len(set(added))} dnc_duplicates={len(duplicates)} "
        f"actions={len(actions)} failed={counts[FAILED]} recovery={recovery:.1f}s"
    )
    FIGURES.append(line)
    print("\nFIGURE " + line, flush=True)
    assert sorted(set(added)) == sorted(optouts.phones)
    assert duplicates == [], f"numbers added twice: {duplicates}"
    assert sorted(cancelled) == sorted({*cancelled}), "a lead action was sent twice"
    assert set(cancelled) == {WARM_EXTERN, *(f"X{n}" for n in range(1, len(optouts.phones)))}
    assert counts[FAILED] == 0
    assert recovery <= within + 1.0, f"done {recovery:.1f}s after the fault, allowed {within}s"
    dialable = stack.fake.control("GET", "dialable")["leads"]
    assert WARM_EXTERN not in [lead["extern_id"] for lead in dialable], "the opted-out lead would still be dialed"


def start(tmp_path, procs, db_url, service_url=None, dispatchers=1, **scale) -> Stack:
    """Web + `dispatch run` workers on `db_url` (through `service_url` when given), one lead loaded."""
    stack = fault_stack(
        procs,
        tmp_path,
        db_url,
        service_url,
        mode="worker",
        dispatchers=dispatchers,
        probe_cap=scale.get("probe_cap", 1),
        call_timeout=scale.get("call_timeout", 2),
    )
    warm_up(stack)
    return stack


@pytest.mark.timeout(CASE_TIMEOUT)
def test_opt_outs_while_engage_is_down(tmp_path, procs, engines, sqlite_url):
    """Engage's DNC and lead-action endpoints answer 503; opt-outs keep coming; all land once after it returns."""
    stack = start(tmp_path, procs, sqlite_url, probe_cap=OUTAGE["probe_cap"], call_timeout=OUTAGE["call_timeout"])
    optouts = OptOuts(sqlite_url)
    stack.fake.control("POST", "faults", json={"lists_status": 503})
    count = max(5, int(OUTAGE["seconds"] / 4))
    optouts.stream(count, interval=OUTAGE["seconds"] / count).join(OUTAGE["seconds"] + 30)
    time.sleep(max(0.0, 0.5))
    assert not optouts.done(), "the outage did not hold the jobs back"
    stack.fake.control("POST", "faults/clear")
    check(stack, optouts, time.time(), OUTAGE["within"], f"opt-outs, Engage down {OUTAGE['seconds']}s")


@pytest.mark.timeout(CASE_TIMEOUT)
def test_kill9_of_the_dispatcher_mid_job_loses_none(tmp_path, procs, engines, pg_url):
    """The leader's DNC call is carried out and hangs; the leader is killed -9; the standby looks it up, sends none twice."""
    stack = start(tmp_path, procs, pg_url, dispatchers=2)
    optouts = OptOuts(pg_url)
    stack.fake.control("POST", "faults", json={"lists_hang": 30, "lists_hang_count": 1, "lists_hang_after": True})
    optouts.add(0)
    wait_for(lambda: stack.fake.control("GET", "dnc")["log"], 15, interval=0.1, message="the DNC call in flight")
    time.sleep(0.3)
    killed = stack.leader()
    assert killed is not None
    stack.kill_leader()
    for n in range(1, 6):
        optouts.add(n)
    ended = time.time()
    stack.fake.control("POST", "faults/clear")  # releases the hung call; its process is gone anyway
    check(stack, optouts, ended, 15.0, "opt-outs, leader killed -9 mid-call")
    assert not killed.alive()
    in_flight = Outbox(optouts.engine).get(optouts.jobs[0])
    assert in_flight is not None and in_flight.result == {"found_by_lookup": True}  # looked up, not resent


@pytest.mark.timeout(CASE_TIMEOUT)
def test_opt_outs_survive_postgres_cut(tmp_path, procs, engines, pg_url):
    """The dispatcher's PostgreSQL connection is cut while jobs are in flight: all land once after it returns."""
    parts = urlsplit(pg_url)
    proxy = TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    try:
        stack = start(tmp_path, procs, pg_url, service_url=proxy.url_for(pg_url))
        optouts = OptOuts(pg_url)
        stack.fake.control("POST", "faults", json={"latency": 0.3})  # calls in flight when the cut comes
        for n in range(10):
            optouts.add(n)
        time.sleep(1.0)
        proxy.cut()
        for n in range(10, 20):  # stored by another web process that still reaches the database
            optouts.add(n)
        time.sleep(5.0)
        proxy.restore()
        ended = time.time()
        stack.fake.control("POST", "faults/clear")
        check(stack, optouts, ended, 15.0, "opt-outs, PostgreSQL cut 5s")
    finally:
        proxy.close()
