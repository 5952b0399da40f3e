"""Wake the dispatcher the moment a lead is stored: in-process signal, Postgres LISTEN/NOTIFY."""
from __future__ import annotations

import logging
import threading

from logs import log
from store.ingest import NOTIFY_CHANNEL

logger = logging.getLogger("leadrelay.wakeup")


class Waker:
    """Signals for the loops that wait for new work (the dispatcher; the fetch pool subscribes too)."""

    def __init__(self):
        """Create the dispatcher's event; other loops get their own via subscribe()."""
        self.event = threading.Event()
        self.others: list[threading.Event] = []

    def subscribe(self) -> threading.Event:
        """An extra event that every wake() sets (each loop clears its own)."""
        event = threading.Event()
        self.others.append(event)
        return event

    def wake(self) -> None:
        """Signal that work is waiting (called by intake after commit, and by NOTIFY)."""
        self.event.set()
        for event in self.others:
            event.set()

    def wait(self, timeout: float) -> bool:
        """Sleep until woken or `timeout` passes; clears the signal."""
        woke = self.event.wait(timeout)
        self.event.clear()
        return woke


class PgListener(threading.Thread):
    """LISTEN on a dedicated connection and wake the local dispatcher on every NOTIFY.

    NOTIFY is only a hint: on reconnect the dispatcher is woken anyway (catch-up), and the
    dispatcher's own poll (≤ 1 s) runs behind it. Transaction-mode poolers drop LISTEN.
    """

    def __init__(self, dsn: str, waker: Waker, stop: threading.Event):
        """`dsn` is a libpq URL (postgresql://...)."""
        super().__init__(name="leadrelay-pg-listen", daemon=True)
        self.dsn, self.waker, self.stop = dsn, waker, stop

    def run(self) -> None:
        """Listen until stopped, reconnecting with a short pause after errors."""
        import psycopg

        while not self.stop.is_set():
            try:
                with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.waker.wake()  # catch up on anything stored while we were not listening
                    while not self.stop.is_set():
                        for _ in conn.notifies(timeout=1.0, stop_after=1):
                            self.waker.wake()
            except Exception as exc:  # connection lost: the poll covers the gap
                log(logger, logging.WARNING, "LISTEN connection lost; retrying", error=str(exc))
                self.stop.wait(1.0)
