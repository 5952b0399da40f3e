"""Campaign name → id resolution, from one cached enumeration of dial groups and campaigns."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from engage.errors import CampaignError


def as_campaign_id(campaign: object) -> int | None:
    """Return the id when `campaign` is numeric (int or digit string), else None."""
    if isinstance(campaign, bool):
        return None
    if isinstance(campaign, int):
        return campaign
    if isinstance(campaign, str) and campaign.strip().isdigit():
        return int(campaign.strip())
    return None


class CampaignSource(Protocol):
    """What the directory enumerates: the EngageClient, or a test double of it."""

    def all_campaigns(self) -> list[dict[str, Any]]:
        """Every campaign of the account."""


class CampaignDirectory:
    """Resolves configured campaigns (id or name) to ids; thread-safe, enumerates only when needed."""

    def __init__(
        self, client: CampaignSource, min_refresh_interval: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Use `client.all_campaigns()`; an unknown name re-enumerates at most once per interval."""
        self._client = client
        self._min_interval = min_refresh_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._campaigns: list[dict[str, Any]] | None = None
        self._loaded_at: float | None = None

    def resolve(self, campaign: object) -> int:
        """Numeric → itself; name → id (exact, then case-insensitive); unknown → CampaignError."""
        cid = as_campaign_id(campaign)
        if cid is not None:
            return cid
        if not isinstance(campaign, str) or not campaign.strip():
            raise CampaignError(f"campaign must be a name or an id, got {campaign!r}", campaign=campaign)
        found = self._lookup(self._snapshot(), campaign)
        if found is None and self._may_refresh():
            # Someone may have created the campaign since the last enumeration.
            found = self._lookup(self.refresh(), campaign)
        if found is None:
            names = ", ".join(sorted(repr(n) for n in self.names())) or "none"
            raise CampaignError(f"unknown Engage campaign {campaign!r}; known campaigns: {names}", campaign=campaign)
        return found

    def refresh(self) -> list[dict[str, Any]]:
        """Re-enumerate now (call after a CampaignError); returns the campaigns."""
        with self._lock:
            campaigns = self._client.all_campaigns()
            self._campaigns, self._loaded_at = campaigns, self._clock()
            return campaigns

    def campaigns(self) -> list[dict[str, Any]]:
        """Every known campaign dict (enumerating once if needed)."""
        return list(self._snapshot())

    def names(self) -> list[str]:
        """Every known campaign name."""
        return [str(c["campaignName"]) for c in self._snapshot() if c.get("campaignName")]

    def _snapshot(self) -> list[dict[str, Any]]:
        """The cached enumeration, loading it the first time (single-flight under the lock)."""
        campaigns = self._campaigns
        if campaigns is not None:
            return campaigns
        with self._lock:
            if self._campaigns is None:
                self._campaigns, self._loaded_at = self._client.all_campaigns(), self._clock()
            return self._campaigns

    def _may_refresh(self) -> bool:
        """True when the last enumeration is older than the minimum interval."""
        loaded = self._loaded_at
        return loaded is None or self._clock() - loaded >= self._min_interval

    @staticmethod
    def _lookup(campaigns: list[dict[str, Any]], name: str) -> int | None:
        """Find one id by exact name, then case-insensitively; several matches is an error."""
        for matches in (
            [c for c in campaigns if c.get("campaignName") == name],
            [c for c in campaigns if str(c.get("campaignName", "")).casefold() == name.casefold()],
        ):
            ids = sorted({int(c["campaignId"]) for c in matches if c.get("campaignId") is not None})
            if len(ids) == 1:
                return ids[0]
            if len(ids) > 1:
                raise CampaignError(f"campaign name {name!r} is ambiguous: ids {ids}; configure the id", campaign=name)
        return None
