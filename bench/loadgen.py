"""Open-loop webhook generator: sends at fixed intervals whatever the answers, from several sessions."""
from __future__ import annotations

import threading
import time
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


def _worker(session: requests.Session, url: str, bodies: list[bytes], samples: list[Sample],
            indexes: range, deadline: float) -> None:
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
            response = session.post(url, data=bodies[i], headers=HEADERS, timeout=REQUEST_TIMEOUT)
            sample.status = response.status_code
        except requests.RequestException as exc:
            sample.error = type(exc).__name__
        sample.done = time.perf_counter()


def warm_up(sessions: list[requests.Session], url: str, bodies: list[bytes]) -> None:
    """Open every session's keep-alive connection and warm the service's code paths (one body each)."""
    for session, body in zip(sessions, bodies):
        session.post(url, data=body, headers=HEADERS, timeout=REQUEST_TIMEOUT).raise_for_status()


def run_open_loop(url: str, bodies: list[bytes], rate: float, threads: int,
                  warm_bodies: list[bytes], grace: float = 15.0) -> tuple[list[Sample], float]:
    """Send `bodies` at `rate`/s (request i due at t0 + i/rate); return the samples and t0."""
    sessions = [requests.Session() for _ in range(threads)]
    try:
        warm_up(sessions, url, warm_bodies)
        t0 = time.perf_counter() + 0.2  # let every thread reach its first sleep before the first due time
        samples = [Sample(due=t0 + i / rate) for i in range(len(bodies))]
        deadline = t0 + len(bodies) / rate + grace
        # Thread k owns requests k, k+threads, …: with `threads` sessions a slow answer delays
        # only that thread's next send, which is `threads` intervals away.
        workers = [threading.Thread(target=_worker, daemon=True, name=f"bench-send-{k}",
                                    args=(sessions[k], url, bodies, samples, range(k, len(bodies), threads), deadline))
                   for k in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(max(0.0, deadline + REQUEST_TIMEOUT - time.perf_counter()) + 1.0)
        return samples, t0
    finally:
        for session in sessions:
            session.close()
