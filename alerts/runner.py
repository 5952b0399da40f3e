"""The alert loop each process runs: evaluate from the database, announce changes, deliver the outbox.

It runs in its own thread with its own timeouts, so a slow receiver never slows intake or dispatch.
`database_down` is the exception to database arbitration: the database cannot arbitrate its own
absence, so each process that cannot reach it says so itself, at most once per `repeat_every`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import TYPE_CHECKING

import requests
from sqlalchemy import exc as sa_exc
from sqlalchemy import text
from sqlalchemy.engine import Engine

from alerts import sender
from alerts.conditions import evaluate, message
from alerts.state import apply, ensure_rows, read_states
from logs import log
from metrics import CACHE_SECONDS, SNAPSHOTS, AuthFailureFlusher

if TYPE_CHECKING:
    from config import Settings

logger = logging.getLogger("leadrelay.alerts")


class DatabaseUnavailable(Exception):
    """The database could not be read this round."""


DATABASE_ERRORS = (sa_exc.DBAPIError, sa_exc.TimeoutError, DatabaseUnavailable)
DOWN_AFTER = 2  # consecutive failed evaluations before this process calls the database down


class AlertRunner:
    """Evaluate → announce → deliver, every `alerts.check_every` seconds, until `stop`."""

    def __init__(self, engine: Engine, settings: Settings, stop: threading.Event) -> None:
        """Keep what the loop needs; nothing runs until `run()`."""
        self.engine, self.settings, self.stop = engine, settings, stop
        self.cfg = settings.file.alerts
        self.webhook: str | None = self.cfg.get("webhook")
        self.session = requests.Session()
        self.process = f"{socket.gethostname()}:{os.getpid()}"
        self.db_failures = 0
        self.db_down_since: float | None = None
        self.db_down_sent_at: float | None = None  # last database_down message this process delivered
        self.db_resolve_pending = False
        self.next_prune = 0.0
        self.auth_failures = AuthFailureFlusher()

    def run(self) -> None:
        """Loop until stopped; no exception ends it."""
        while not self.stop.is_set():
            self.tick()
            self.stop.wait(self.cfg["check_every"])

    def tick(self) -> None:
        """One round: evaluate and announce, then deliver what is due."""
        try:
            self.auth_failures.flush(self.engine)  # so the console's 24 h count covers every process
            self.evaluate()
            self.database_ok()
        except DATABASE_ERRORS as exc:
            self.database_failed(exc)
            return
        except Exception as exc:  # a bug must not end the loop
            log(logger, logging.ERROR, "alert evaluation failed", error=repr(exc)[:300])
        try:
            if self.webhook:
                sender.deliver_due(self.engine, self.session, self.webhook)
            self.prune()
        except DATABASE_ERRORS as exc:
            self.database_failed(exc)
        except Exception as exc:
            log(logger, logging.ERROR, "alert delivery loop failed", error=repr(exc)[:300])

    def evaluate(self) -> list[tuple[str, str]]:
        """Judge every condition and announce the changes this process wins."""
        # The same cached snapshot /metrics and the console use (at most 5 s old): one read serves all.
        snap = SNAPSHOTS.get(self.engine, max_age=min(CACHE_SECONDS, self.cfg["check_every"]))
        if snap is None:
            raise DatabaseUnavailable("the operator snapshot could not be read")
        states = read_states(self.engine)
        baselines = {
            f"source_silent:{name}": "source_silent"
            for name, src in self.settings.file.sources.items()
            if src.expect_every and f"source_silent:{name}" not in states
        }
        if baselines:
            ensure_rows(self.engine, baselines, snap.now)
            states = read_states(self.engine)
        conditions = evaluate(self.engine, self.settings, snap, states)
        announced = apply(self.engine, conditions, states, self.cfg["repeat_every"], bool(self.webhook), now=snap.now)
        for key, verdict in announced:
            log(logger, logging.WARNING if verdict == "firing" else logging.INFO, "alert " + verdict, key=key)
        return announced

    def prune(self) -> None:
        """Hourly: drop delivered messages older than a week and audit rows past retention_days."""
        if time.time() < self.next_prune:
            return
        self.next_prune = time.time() + 3600
        from store import audit
        from store.db import write

        with write(self.engine) as conn:
            conn.execute(
                text("DELETE FROM alert_outbox WHERE sent_at IS NOT NULL AND created_at < :t"),
                {"t": time.time() - 7 * 86400},
            )
        audit.prune(self.engine, time.time() - self.settings.file.defaults["retention_days"] * 86400)

    # ------------------------------------------------------------------ database_down (per process)

    def database_failed(self, exc: Exception) -> None:
        """Count a failed round; after DOWN_AFTER, send database_down (at most once per repeat_every)."""
        self.db_failures += 1
        if self.db_failures < DOWN_AFTER:
            return
        now = time.time()
        if self.db_down_since is None:
            self.db_down_since = now
            log(logger, logging.ERROR, "database unreachable from the alert loop", error=type(exc).__name__)
        due = self.db_down_sent_at is None or now - self.db_down_sent_at >= self.cfg["repeat_every"]
        if self.webhook and due and self._send_direct("firing", now):
            self.db_down_sent_at = now
            self.db_resolve_pending = True

    def database_ok(self) -> None:
        """The database answers: resolve a database_down this process announced."""
        self.db_failures = 0
        if self.db_down_since is None:
            return
        if not self.db_resolve_pending or self._send_direct("resolved", time.time()):
            self.db_down_since, self.db_down_sent_at, self.db_resolve_pending = None, None, False

    def _send_direct(self, state: str, now: float) -> bool:
        """POST a database_down message without the outbox (the database is what is missing)."""
        # Only reached with a webhook: "firing" is sent under `if self.webhook`, "resolved" only after it.
        assert self.webhook is not None
        details = {
            "process": self.process,
            "key": f"database_down:{self.process}",
            "since": self.db_down_since,
            "at": now,
        }
        payload = {
            "text": message("database_down", state, details, self.db_down_since or now, now),
            "alert": "database_down",
            "state": state,
            "details": details,
        }
        error = sender.post(self.session, self.webhook, payload)
        log(
            logger,
            logging.WARNING if error else logging.INFO,
            "alert sent" if error is None else "alert delivery failed; will retry",
            alert="database_down",
            state=state,
            error=error,
        )
        return error is None
