"""Rate windows in the database: every lead-loader call and token exchange, timed by the database clock."""

from __future__ import annotations

import threading
import time

from sqlalchemy import text
from sqlalchemy.engine import Engine

from store.db import now_sql, write

KEEP_SECONDS = 120.0  # longer than the longest window (60 s)


class RateLog:
    """Append-only log of rate-limited calls; the leader reads it once at takeover."""

    def __init__(self, engine: Engine) -> None:
        """Prepare dialect-specific SQL."""
        self.engine = engine
        self._now = now_sql(engine)
        self._writes = 0
        self._pending: list[tuple[str, float]] = []
        self._lock = threading.Lock()

    def ages(self, kind: str, within: float = 60.0) -> list[float]:
        """Seconds since each `kind` event of the last `within` seconds (oldest first)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                text(f"SELECT {self._now} - at FROM rate_events WHERE kind=:k AND at > {self._now} - :w ORDER BY at"),
                {"k": kind, "w": within},
            ).fetchall()
        return [float(r[0]) for r in rows]

    def record(self, kind: str) -> None:
        """Log one event now (written with the next flush, off the send path)."""
        with self._lock:
            self._pending.append((kind, time.monotonic()))

    def flush(self) -> None:
        """Write pending events, timed by the database clock; purge old rows now and then."""
        with self._lock:
            pending, self._pending = self._pending, []
        if not pending:
            return
        now = time.monotonic()
        try:
            self._write(pending, now)
        except Exception:
            with self._lock:  # keep them for the next flush (the database may be back by then)
                self._pending[:0] = [p for p in pending if now - p[1] < KEEP_SECONDS]
            raise

    def _write(self, pending: list[tuple[str, float]], now: float) -> None:
        """Insert the events and trim old rows now and then."""
        with write(self.engine) as conn:
            conn.execute(
                text(f"INSERT INTO rate_events (kind, at) VALUES (:k, {self._now} - :age)"),
                [{"k": kind, "age": now - at} for kind, at in pending],
            )
            self._writes += len(pending)
            if self._writes >= 100:
                self._writes = 0
                conn.execute(text(f"DELETE FROM rate_events WHERE at < {self._now} - :keep"), {"keep": KEEP_SECONDS})
