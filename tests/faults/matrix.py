"""The fault-matrix harness: a real stack (gunicorn, `flask dispatch run`, the fake Engage process,
real SQLite/PostgreSQL behind a cuttable proxy), a sender posting 1 lead/s that retries anything
but 2xx, a fault switched on and off, and the figure each case prints.

Durations come from a Scale: SHORT for `make test`, SOAK (LEADRELAY_SOAK=1) for `make soak`."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from harness.processes import wait_for
from tests.figures import FIGURES
from tests.stack import Stack, extern_ids, lead_body, start_stack, statuses

SOAK = os.environ.get("LEADRELAY_SOAK") == "1"

CONFIG = """
defaults:
  campaign: "Inbound Leads"
  suppress_within: 0
dispatch:
  lease_seconds: 2
  poll_interval: 0.5
  backoff_base: 0.2
  backoff_cap: {backoff_cap}
  outage_probe_cap: {probe_cap}
  call_timeout: {call_timeout}
  max_claims: 5
sources:
  hubspot:
    type: hubspot
    token: e2e-token
    routes:
      - when: {{hubspotscore: {{gte: 80}}}}
        priority: IMMEDIATE
        campaign: "Hot Inbound"
      - priority: NORMAL
"""


@dataclass
class Figure:
    """What a case measured."""

    case: str
    sent: int = 0  # leads answered 2xx
    refused: int = 0  # answers that were not 2xx (the sender retried them)
    delivered: int = 0  # distinct 2xx leads the fake Engage holds
    duplicates: int = 0  # loads beyond the first per lead
    dead: int = 0
    recovery: float | None = None  # seconds from the fault's end to every lead delivered
    notes: dict = field(default_factory=dict)

    def line(self) -> str:
        """One printable line."""
        extra = " ".join(f"{k}={v}" for k, v in self.notes.items())
        rec = "n/a" if self.recovery is None else f"{self.recovery:.1f}s"
        return (
            f"{self.case}: sent={self.sent} delivered={self.delivered} duplicates={self.duplicates} "
            f"dead={self.dead} refused_then_retried={self.refused} recovery={rec} {extra}"
        ).rstrip()


class Sender:
    """A webhook sender: one new lead every `interval` seconds, retrying non-2xx answers each second."""

    def __init__(self, url: Callable[[], str], count: int, interval: float = 1.0, first: int = 1000):
        """`url()` gives the current web URL (a restarted web process keeps its port)."""
        self.url, self.count, self.interval, self.first = url, count, interval, first
        self.accepted: dict[int, float] = {}  # lead number → when it was answered 2xx
        self.refused = 0
        self.slowest = 0.0  # longest answer time, 2xx or not
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.stop_at: float | None = None

    def start(self) -> Sender:
        """Start posting."""
        self.thread.start()
        return self

    def _post(self, n: int) -> bool:
        """One attempt; True when answered 2xx."""
        started = time.time()
        try:
            response = requests.post(
                f"{self.url()}/webhooks/hubspot",
                data=lead_body(n),
                timeout=15,
                headers={"Content-Type": "application/json", "X-Leadrelay-Token": "e2e-token"},
            )
            ok = 200 <= response.status_code < 300
        except requests.RequestException:
            ok = False
        self.slowest = max(self.slowest, time.time() - started)
        if ok:
            self.accepted[n] = time.time()
        else:
            self.refused += 1
        return ok

    def _run(self) -> None:
        """Post new leads on schedule; retry the refused ones (bounded: 3 minutes after the last)."""
        pending: list[int] = []
        next_new, made = time.time(), 0
        give_up = None
        while True:
            now = time.time()
            if made < self.count and now >= next_new:
                n = self.first + made
                made += 1
                next_new += self.interval
                if not self._post(n):
                    pending.append(n)
            if pending and (made >= self.count or now >= next_new - self.interval / 2):
                pending = [n for n in pending if not self._post(n)]
            if made >= self.count and not pending:
                return
            if made >= self.count:
                give_up = give_up or now + 180
                if now > give_up:
                    return
            time.sleep(0.2)

    def join(self, timeout: float) -> None:
        """Wait for the sender to finish (every lead answered 2xx)."""
        self.thread.join(timeout)


def fault_stack(
    procs: list,
    workdir: Path,
    db_url: str,
    service_db_url: str | None = None,
    mode: str = "inline",
    dispatchers: int = 1,
    fake_args: tuple[str, ...] = (),
    probe_cap: float = 1.0,
    call_timeout: float = 2.0,
    backoff_cap: float = 1.0,
    wait_ready: bool = True,
) -> Stack:
    """The shared stack (tests/stack.py) with the fault cases' config: one gunicorn worker, `mode` inline
    or worker (then `dispatchers` processes), the outage probe, call timeout and backoff of the scale.
    `db_url` is the real database (the test reads it); `service_db_url` what the services use (a proxy)."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "leadrelay.yml").write_text(
        CONFIG.format(probe_cap=probe_cap, call_timeout=call_timeout, backoff_cap=backoff_cap)
    )
    return start_stack(
        procs,
        workdir,
        db_url,
        *fake_args,
        workers=dispatchers if mode == "worker" else 0,
        service_db_url=service_db_url,
        wait_ready=wait_ready,
        DISPATCH_MODE=mode,
        WEB_CONCURRENCY="1",
    )


def warm_up(stack: Stack) -> None:
    """One lead end to end before the fault (tokens, campaign ids and the lease in place)."""
    response = requests.post(
        f"{stack.url()}/webhooks/hubspot",
        data=lead_body(1),
        timeout=10,
        headers={"Content-Type": "application/json", "X-Leadrelay-Token": "e2e-token"},
    )
    assert response.status_code == 202, response.text
    wait_for(lambda: len(extern_ids(stack.fake)) == 1, 30, interval=0.1, message="warm-up lead delivered")


def expected_ids(sender: Sender) -> set[str]:
    """externIds of the leads answered 2xx (HubSpot vids)."""
    return {str(90000000 + n) for n in sender.accepted}


def finish(
    figure: Figure, stack: Stack, sender: Sender, fault_ended: float, deliver_within: float, look_past: float = 30.0
) -> Figure:
    """Wait for every 2xx lead at the fake, fill in the figure, print it, and assert the promise.

    A lead still missing at the deadline is waited for `look_past` seconds more, so the figure shows
    the real recovery (or that there was none)."""
    sender.join(240)
    assert not sender.thread.is_alive(), "the sender could not get every lead answered 2xx"
    wanted = expected_ids(sender)
    deadline = max(fault_ended, max(sender.accepted.values(), default=fault_ended)) + deliver_within
    done_at = None
    while time.time() < deadline + look_past:
        got = extern_ids(stack.fake)
        if wanted <= set(got):
            done_at = time.time()
            break
        time.sleep(0.1)
    got = extern_ids(stack.fake)
    counts = statuses(stack.db_url)
    figure.sent, figure.refused = len(sender.accepted), sender.refused
    figure.delivered = len(wanted & set(got))
    figure.duplicates = sum(n - 1 for n in got.values() if n > 1)
    figure.dead = counts.get("dead", 0)
    figure.recovery = None if done_at is None else max(0.0, done_at - fault_ended)
    figure.notes.setdefault("slowest_answer", f"{sender.slowest:.1f}s")
    FIGURES.append(figure.line())
    print("\nFIGURE " + figure.line(), flush=True)
    missing = wanted - set(got)
    assert not missing, f"{len(missing)} leads answered 2xx were never delivered: {sorted(missing)[:5]}"
    assert figure.dead == 0, f"dead leads: {counts}"
    assert figure.duplicates == 0, f"duplicates at the fake: {[k for k, n in got.items() if n > 1]}"
    assert done_at is not None and done_at <= deadline, (
        f"delivered {figure.recovery:.1f}s after the fault, allowed {deliver_within}s" if figure.recovery else "late"
    )
    return figure
