"""Wake the dispatcher the moment a lead is stored: in-process signal, Postgres LISTEN/NOTIFY."""

from __future__ import annotations

import logging
import threading

from logs import log
from store.ingest import NOTIFY_CHANNEL

logger = logging.getLogger("leadrelay.wakeup")


class Waker:
    """Named signals for the loops that wait for new work.

    The lanes ("IMMEDIATE", "NORMAL") and the fetch pool ("fetch") each have one. A new NORMAL lead
    must not wake the IMMEDIATE lane, nor any lead the fetch pool: each wake-up costs a database
    round trip.
    """

    def __init__(self) -> None:
        """No subscribers yet."""
        self.events: dict[str, list[threading.Event]] = {}
        self.lock = threading.Lock()

    def subscribe(self, name: str) -> threading.Event:
        """An event that wake(name) — and a bare wake() — sets; its loop clears it."""
        event = threading.Event()
        with self.lock:
            self.events.setdefault(name, []).append(event)
        return event

    def wake(self, *names: str) -> None:
        """Signal that work is waiting for `names` (every loop when none is given)."""
        with self.lock:
            chosen = [e for n, events in self.events.items() if not names or n in names for e in events]
        for event in chosen:
            event.set()


class PgListener(threading.Thread):
    """LISTEN on a dedicated connection and wake the local dispatcher on every NOTIFY.

    NOTIFY is only a hint: on reconnect the dispatcher is woken anyway (catch-up), and the
    dispatcher's own poll (≤ 1 s) runs behind it. Transaction-mode poolers drop LISTEN.
    """

    def __init__(self, dsn: str, waker: Waker, stop: threading.Event) -> None:
        """`dsn` is a libpq URL (postgresql://...)."""
        super().__init__(name="leadrelay-pg-listen", daemon=True)
        self.dsn, self.waker, self.stop = dsn, waker, stop

    def run(self) -> None:
        """Listen until stopped, reconnecting with a short pause after errors."""
        import psycopg

        failures = 0
        while not self.stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    failures = 0
                    self.waker.wake()  # catch up on anything stored while we were not listening
                    while not self.stop.is_set():
                        for notify in conn.notifies(timeout=1.0, stop_after=1):
                            self.waker.wake(*[n for n in notify.payload.split(",") if n])
            except Exception as exc:  # connection lost: the poll covers the gap
                failures += 1
                if failures == 1 or failures % 30 == 0:  # one line per outage, not one per second
                    log(
                        logger,
                        logging.WARNING,
                        "LISTEN connection lost; retrying",
                        error=type(exc).__name__,
                        failures=failures,
                    )
                self.stop.wait(min(5.0, 0.5 * failures))
