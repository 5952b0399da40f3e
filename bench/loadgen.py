"""Open-loop webhook generator: sends at fixed intervals whatever the answers, from several sessions."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from bench.config_file import TOKEN, TOKEN_HEADER

REQUEST_TIMEOUT = 10.0
HEADERS = {"Content-Type": "application/json", TOKEN_HEADER: TOKEN}


@dataclass
class Sample:
    """One request: when it was due, sent and answered (perf_counter seconds), and how."""

    due: float
    sent: float = 0.0
    done: float = 0.0
    status: int = 0  # 0: no answer (transport error or not sent)
    error: str = ""
    answer_ok: bool | None = None  # the scenario's check of the answer (None: no check given)


def _worker(
    session: requests.Session,
    url: str,
    bodies: list[bytes],
    samples: list[Sample],
    indexes: range,
    deadline: float,
    headers: dict,
    check: Callable | None,
) -> None:
    """Send this thread's share of the schedule; never past `deadline` (perf_counter)."""
    for i in indexes:
        sample = samples[i]
        delay = sample.due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        if time.perf_counter() > deadline:
            sample.error = "not sent: run deadline passed"
            continue
        sample.sent = time.perf_counter()
        try:
            response = session.post(url, data=bodies[i], headers=headers, timeout=REQUEST_TIMEOUT)
            sample.done = time.perf_counter()  # before the check: its cost is the client's, not the server's
            sample.status = response.status_code
            if check is not None:
                sample.answer_ok = bool(check(response))
        except requests.RequestException as exc:
            sample.error = type(exc).__name__
            sample.done = time.perf_counter()


def warm_up(sessions: list[requests.Session], url: str, bodies: list[bytes], headers: dict = HEADERS) -> None:
    """Open every session's keep-alive connection and warm the service's code paths (one body each)."""
    # One body per session; extra bodies (or sessions) are simply not used for warming.
    for session, body in zip(sessions, bodies, strict=False):
        session.post(url, data=body, headers=headers, timeout=REQUEST_TIMEOUT).raise_for_status()


def run_open_loop(
    url: str,
    bodies: list[bytes],
    rate: float,
    threads: int,
    warm_bodies: list[bytes],
    grace: float = 15.0,
    headers: dict = HEADERS,
    check: Callable | None = None,
) -> tuple[list[Sample], float]:
    """Send `bodies` at `rate`/s (request i due at t0 + i/rate); return the samples and t0.

    `check(response)`, when given, judges each answer (e.g. "is the SOAP Ack"): Sample.answer_ok.
    """
    return run_schedule(
        url, bodies, [i / rate for i in range(len(bodies))], threads, warm_bodies, grace, headers, check
    )


def run_schedule(
    url: str,
    bodies: list[bytes],
    offsets: list[float],
    threads: int,
    warm_bodies: list[bytes] | None = None,
    grace: float = 15.0,
    headers: dict = HEADERS,
    check: Callable | None = None,
) -> tuple[list[Sample], float]:
    """Send body i at t0 + offsets[i] (ascending) whatever the answers; return the samples and t0."""
    sessions = [requests.Session() for _ in range(threads)]
    try:
        if warm_bodies:
            warm_up(sessions, url, warm_bodies, headers)
        t0 = time.perf_counter() + 0.2  # let every thread reach its first sleep before the first due time
        samples = [Sample(due=t0 + offset) for offset in offsets]
        deadline = t0 + (offsets[-1] if offsets else 0.0) + grace
        # Thread k owns requests k, k+threads, …: with `threads` sessions a slow answer delays
        # only that thread's next send, which is `threads` intervals away.
        workers = [
            threading.Thread(
                target=_worker,
                daemon=True,
                name=f"bench-send-{k}",
                args=(sessions[k], url, bodies, samples, range(k, len(bodies), threads), deadline, headers, check),
            )
            for k in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(max(0.0, deadline + REQUEST_TIMEOUT - time.perf_counter()) + 1.0)
        return samples, t0
    finally:
        for session in sessions:
            session.close()


@dataclass
class Sent:
    """One burst request: wall-clock send and answer times (comparable with the service's timestamps)."""

    index: int
    sent: float = 0.0
    done: float = 0.0
    status: int = 0


def _burst_worker(
    url: str, bodies: list[bytes], next_index: Callable[[], int | None], results: list[Sent], deadline: float
) -> None:
    """Take the next unsent body and POST it, until none is left or the deadline (wall clock) passes."""
    with requests.Session() as session:
        while time.time() < deadline:
            i = next_index()
            if i is None:
                return
            record = results[i]
            record.sent = time.time()
            try:
                record.status = session.post(url, data=bodies[i], headers=HEADERS, timeout=REQUEST_TIMEOUT).status_code
            except requests.RequestException:
                record.status = 0
            record.done = time.time()


def run_burst(url: str, bodies: list[bytes], threads: int, budget: float = 120.0) -> list[Sent]:
    """POST every body as fast as `threads` keep-alive clients can (closed loop); at most `budget` seconds."""
    results = [Sent(i) for i in range(len(bodies))]
    lock, counter = threading.Lock(), iter(range(len(bodies)))

    def next_index() -> int | None:
        """The next body to send, shared by all threads (a slow answer never leaves work idle)."""
        with lock:
            return next(counter, None)

    deadline = time.time() + budget
    workers = [
        threading.Thread(
            target=_burst_worker,
            args=(url, bodies, next_index, results, deadline),
            daemon=True,
            name=f"bench-burst-{k}",
        )
        for k in range(threads)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(max(0.0, deadline - time.time()) + REQUEST_TIMEOUT + 1.0)
    return results
