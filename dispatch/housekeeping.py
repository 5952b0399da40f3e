"""The leader's chores off the send path: persist the rate log, purge personal data and old evidence."""

from __future__ import annotations

import logging
import time

from sqlalchemy.engine import Engine

from logs import log
from store.compliance import purge_evidence
from store.ratelog import RateLog
from store.retention import purge

logger = logging.getLogger("leadrelay.dispatch")

PURGE_EVERY = 3600.0  # seconds between retention purges


class Housekeeping:
    """Chores the leader loop runs each pass; a failure is logged and tried again next pass."""

    def __init__(self, engine: Engine, ratelog: RateLog, retention_days: int | None) -> None:
        self.engine, self.ratelog, self.retention_days = engine, ratelog, retention_days
        self.next_purge = 0.0

    def flush_rate_log(self) -> None:
        """Persist recent loader calls for a successor."""
        try:
            self.ratelog.flush()
        except Exception as exc:
            log(logger, logging.WARNING, "rate log flush failed", error=str(exc))

    def purge_if_due(self) -> None:
        """Erase personal data past retention once an hour (the leader does it, not every process)."""
        if self.retention_days is None or time.monotonic() < self.next_purge:
            return
        self.next_purge = time.monotonic() + PURGE_EVERY
        try:
            result = purge(self.engine, self.retention_days)
            # Compliance evidence has its own lifetime (compliance.evidence_days, set per row).
            result["compliance_evidence"] = purge_evidence(self.engine, time.time())
            if any(result.values()):
                log(logger, logging.INFO, "retention purge", retention_days=self.retention_days, **result)
        except Exception as exc:
            log(logger, logging.WARNING, "retention purge failed", error=str(exc))
