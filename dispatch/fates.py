"""Before resending a lead whose last call may have landed, ask Engage (campaignLeads/leadSearch)."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from dispatch.ratelimit import RateLimiter
from engage.errors import LookupUnsupported
from logs import log
from store.queue import ClaimedLead

logger = logging.getLogger("leadrelay.dispatch")

# What a person reads in last_error when a lead's last call may have been carried out; the
# dispatcher decides by the lead's unknown_fate column, never by this text.
UNKNOWN = "fate unknown: "
# campaignLeads/leadSearch allows 15 / 10 s and 60 / 30 s (engage-api.md §5); keep some headroom.
LOOKUP_WINDOWS = [(12, 10.0), (50, 30.0)]


def unsure(lead: ClaimedLead) -> bool:
    """A claim that never settled (the process died holding it) or a call of unknown fate."""
    return lead.claims > 1 or lead.unknown_fate


class FateLookup:
    """leadSearch within its own rate budget; counts the leads whose fate could not be decided."""

    def __init__(self) -> None:
        """A fresh budget, nothing undecided."""
        self.limiter = RateLimiter(LOOKUP_WINDOWS)
        self.undecided = 0
        self.lock = threading.Lock()

    def loaded(self, client: Any, campaign_id: Any, leads: list[ClaimedLead]) -> set[str] | None:
        """ExternIds of `leads` Engage already has; None when lead search is refused (undecided, counted).

        Throttled and Unavailable propagate: the caller retries the leads, keeping their mark.
        """
        while (wait := self.limiter.try_acquire()) > 0:
            time.sleep(min(wait, 0.25))
        try:
            found: set[str] = client.lead_search(campaign_id, [c.extern_id for c in leads])
            return found
        except LookupUnsupported as exc:
            with self.lock:
                self.undecided += len(leads)
            log(
                logger,
                logging.WARNING,
                "lead fate undecided (lead search refused); resending",
                error=str(exc),
                count=len(leads),
                undecided_total=self.undecided,
                lead_ids=[c.id for c in leads],
            )
            return None
