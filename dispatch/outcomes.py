"""Settlements that survive a database outage: written now, or kept in memory and written once it answers."""

from __future__ import annotations

import logging
import threading

from logs import log
from store.queue import Queue, Settlement

logger = logging.getLogger("leadrelay.dispatch")


class Outcomes:
    """Write lead outcomes under an epoch; what the database refuses is kept (in order) and retried."""

    def __init__(self, queue: Queue) -> None:
        """Nothing kept yet."""
        self.queue = queue
        self.kept: list[tuple[int, list[Settlement]]] = []
        self.lock = threading.Lock()

    def store(self, epoch: int, settlements: list[Settlement]) -> int:
        """Write outcomes; if the database is down, keep them. Returns how many were written now."""
        try:
            return self.queue.settle(epoch, settlements)
        except Exception as exc:
            with self.lock:
                self.kept.append((epoch, settlements))
            log(
                logger,
                logging.ERROR,
                "could not record outcomes; kept until the database answers",
                error=repr(exc)[:300],
                leads=[s.id for s in settlements],
            )
            return 0

    def flush(self) -> bool:
        """Write the kept outcomes; True when none are left (fenced by their epoch like any settle)."""
        with self.lock:
            pending, self.kept = self.kept, []
        for i, (epoch, settlements) in enumerate(pending):
            try:
                self.queue.settle(epoch, settlements)
            except Exception:
                with self.lock:
                    self.kept[:0] = pending[i:]
                return False
        if pending:
            log(
                logger,
                logging.INFO,
                "outcomes recorded after the database returned",
                leads=sum(len(s) for _, s in pending),
            )
        return True

    def __bool__(self) -> bool:
        """True while some outcomes wait for the database."""
        return bool(self.kept)
