"""A naive relay, as Engage's sample scripts do it: one leadLoader/direct call per lead, exponential backoff on 429.

Used by the burst scenario as its baseline: the same leads, arriving on the same schedule the service saw,
sent by `threads` handler threads (the relay's own concurrency, like gunicorn's 8). Each thread takes the
next lead when it arrives, POSTs it alone, and on a 429 (or any failure) sleeps 1 s, 2 s, 4 s … capped
at 30 s before retrying the same lead; no jitter, no shared budget — that is what makes it naive.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.baseline import engage_token
from bench.config_file import HOT_CAMPAIGN
from engage import fake
from harness.processes import FakeEngageProcess

BACKOFF_START, BACKOFF_CAP = 1.0, 30.0
CALL_TIMEOUT = 10.0


@dataclass
class Lead:
    """One lead of the schedule and what happened to it."""

    extern_id: str
    phone: str
    due: float = 0.0  # wall clock: when the relay received it
    attempts: int = 0
    throttled: int = 0  # 429 answers for this lead
    loaded: bool = False


def _body(lead: Lead) -> bytes:
    """A one-lead LeadListProcessingRequest, the dispatcher's options (IMMEDIATE, same campaign)."""
    row = {
        "externId": lead.extern_id,
        "leadPhone": lead.phone,
        "firstName": "Ada",
        "lastName": "Example",
        "email": "ada.example@example.com",
        "zip": "80202",
    }
    body = {
        "description": "leadrelay bench naive relay",
        "dialPriority": "IMMEDIATE",
        "duplicateHandling": "REMOVE_FROM_LIST",
        "listState": "ACTIVE",
        "timeZoneOption": "NPA_NXX",
        "uploadLeads": [row],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _handler(todo: queue.Queue, url: str, headers: dict, deadline: float) -> None:
    """One relay thread: take each arriving lead, POST it until loaded or the deadline (wall clock) passes."""
    session = requests.Session()
    try:
        while time.time() < deadline:
            try:
                lead = todo.get_nowait()
            except queue.Empty:
                return
            if lead.due > time.time():
                time.sleep(min(lead.due, deadline) - time.time())
            delay = BACKOFF_START
            while time.time() < deadline:
                lead.attempts += 1
                try:
                    status = session.post(url, data=_body(lead), headers=headers, timeout=CALL_TIMEOUT).status_code
                except requests.RequestException:
                    status = 0
                if status == 200:
                    lead.loaded = True
                    break
                lead.throttled += status == 429
                time.sleep(max(0.0, min(delay, deadline - time.time())))
                delay = min(BACKOFF_CAP, delay * 2)
    finally:
        session.close()


def earliest_finish(stamps: list[float], remaining: int, limits: list[tuple[int, float]], start: float) -> float:
    """When `remaining` more calls could at best be admitted after `stamps`, under sliding `limits` (from `start`)."""
    stamps = sorted(stamps)
    t = start
    for _ in range(remaining):  # bounded by the number of leads left
        for limit, window in limits:
            if len(stamps) >= limit:
                t = max(t, stamps[-limit] + window + 1e-3)
        stamps.append(t)
    return t


def run(arrivals: list[tuple[float, str, str]], threads: int, budget: float, log_path: Path) -> dict:
    """Relay `arrivals` ([(offset s, externId, phone)]) through a fresh strict fake; figures and per-lead times."""
    proc = FakeEngageProcess(log_path=log_path).start()  # strict: Engage's 30/10 s and 120/60 s
    session = requests.Session()
    try:
        campaign = next(c["campaignId"] for c in proc.control("GET", "campaigns") if c["campaignName"] == HOT_CAMPAIGN)
        url = f"{proc.url}/voice/api/v1/admin/accounts/{fake.DEFAULT_ACCOUNT_ID}/campaigns/{campaign}/leadLoader/direct"
        headers = {"Authorization": f"Bearer {engage_token(session, proc.url)}", "Content-Type": "application/json"}
        limits = [(int(n), float(w)) for n, w in proc.control("GET", "config")["rate_limits"]]
        t0 = time.time() + 0.2
        leads = [Lead(extern, phone, due=t0 + offset) for offset, extern, phone in sorted(arrivals)]
        todo: queue.Queue = queue.Queue()
        for lead in leads:
            todo.put(lead)
        deadline = t0 + budget
        workers = [
            threading.Thread(target=_handler, args=(todo, url, headers, deadline), daemon=True, name=f"bench-naive-{k}")
            for k in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(max(0.0, deadline - time.time()) + CALL_TIMEOUT + 2.0)
        ended = time.time()
        at_fake = {str(lead["extern_id"]): lead["received_at"] for lead in proc.leads()}
        stats = proc.stats()
    finally:
        session.close()
        proc.stop()
    return _figures(leads, at_fake, stats, t0, ended, limits)


def _figures(
    leads: list[Lead], at_fake: dict, stats: dict, t0: float, ended: float, limits: list[tuple[int, float]]
) -> dict:
    """Speed-to-lead per lead (censored at the end for leads never loaded), totals and the extrapolation."""
    stl, censored = [], 0
    for lead in leads:
        if lead.extern_id in at_fake:
            stl.append(at_fake[lead.extern_id] - lead.due)
        else:
            censored += 1
            stl.append(ended - lead.due)  # a lower bound: it was still waiting when the run ended
    loaded = len(at_fake)
    out = {
        "stl_s": stl,
        "censored": censored,
        "loaded": loaded,
        "leads": len(leads),
        "calls": stats.get("loader_calls"),
        "loader_429": stats.get("loader_429"),
        "http_429": stats.get("http_429"),
        "max_batch": stats.get("max_batch"),
        "duplicates": max(0, stats.get("leads_accepted", 0) - loaded),
        "receive_all_s": round(max(lead.due for lead in leads) - t0, 3) if leads else None,
        "all_loaded_s": round(max(at_fake.values()) - t0, 1) if leads and censored == 0 else None,
        "ran_s": round(ended - t0, 1),
        "rate_limits": limits,
    }
    if censored:
        # Not all loaded within the budget: the earliest the rest could follow at Engage's limits
        # (no backoff waste, so the real naive relay would take at least this long).
        finish = earliest_finish(list(at_fake.values()), censored, limits, ended)
        out["all_loaded_s_extrapolated_lower_bound"] = round(finish - t0, 1)
    return out
