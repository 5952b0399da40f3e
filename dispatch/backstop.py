"""The leadSearch backstop: ask RingCX about loaded leads no dialer event has mentioned yet.

RingCX web services fire on agent events, so a call nobody answered may report nothing. Once a
minute the leader's backstop thread takes up to `BATCH` loaded leads of campaigns that send events,
quiet for `QUIET` seconds and not asked for `RECHECK` seconds, and asks campaignLeads/leadSearch
for their pass count; it stores the count and the time (`dial_passes`, `dial_checked_at`), shown on
the lead and used by the `not_dialed` alert (a lead RingCX has dialed is not "not dialed"). It has its
own small share of leadSearch's limit (15 / 10 s, 60 / 30 s) next to the fate lookups' 12 / 50.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Engine

from dispatch.ratelimit import RateLimiter
from engage.errors import LookupUnsupported
from logs import log
from store import dialing
from store.db import write

logger = logging.getLogger("leadrelay.dispatch")

EVERY = 60.0  # seconds between passes
QUIET = 120.0  # a loaded lead is asked about after this long without a dialer event
RECHECK = 600.0  # and then again at most this often
BATCH = 50
WINDOWS = [(3, 10.0), (10, 30.0)]  # with the fate lookups' 12 / 10 s and 50 / 30 s: within 15 and 60


class DialBackstop:
    """One pass at a time on its own thread; the leader's backend does the calls."""

    def __init__(
        self,
        engine: Engine,
        backend: Callable[[], Any],
        leading: Callable[[], bool],
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`backend()` is the leader's Engage backend (None before it leads); `leading()` says whether it still does."""
        self.engine, self.backend, self.leading, self.clock = engine, backend, leading, clock
        self.limiter = RateLimiter(WINDOWS)
        self.refused = False  # leadSearch is not allowed for this login: stop asking

    def run(self, stop: threading.Event) -> None:
        """Pass every EVERY seconds while leader; no exception ends the loop."""
        while not stop.wait(EVERY):
            try:
                self.run_once()
            except Exception as exc:  # database or Engage gone: the next pass tries again
                log(logger, logging.WARNING, "dial backstop pass failed", error=repr(exc)[:300])

    def run_once(self) -> int:
        """One pass: how many leads were asked about."""
        backend = self.backend()
        if self.refused or backend is None or not self.leading():
            return 0
        now = self.clock()
        with self.engine.connect() as conn:
            leads = dialing.unheard(conn, now, QUIET, RECHECK, BATCH)
        by_campaign: dict[str, list[dict[str, Any]]] = {}
        for lead in leads:
            by_campaign.setdefault(lead["campaign"], []).append(lead)
        asked = 0
        for campaign, group in by_campaign.items():
            while (wait := self.limiter.try_acquire()) > 0:
                time.sleep(min(wait, 0.25))
            try:
                passes = backend.client.lead_passes(
                    backend.directory.resolve(campaign), [g["extern_id"] for g in group]
                )
            except LookupUnsupported:
                self.refused = True
                log(logger, logging.WARNING, "dial backstop off: lead search is not allowed for this login")
                return asked
            with write(self.engine) as conn:
                dialing.record_passes(conn, self.clock(), {g["id"]: passes.get(str(g["extern_id"])) for g in group})
            asked += len(group)
        if asked:
            log(logger, logging.INFO, "dial backstop", asked=asked, campaigns=len(by_campaign))
        return asked
