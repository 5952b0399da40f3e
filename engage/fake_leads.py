"""The fake Engage's accepted leads: the newest `limit` kept, found by externId or campaign without a scan."""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from itertools import islice
from typing import Any, TypeVar

DEFAULT_MAX_LEADS = 10_000

Lead = dict[str, Any]
K = TypeVar("K")


class LeadLog:
    """Accepted leads in arrival order (seq 1, 2, …); the oldest are forgotten past `limit`.

    A sandbox left running for weeks keeps what a person can look at (the newest leads) and
    nothing more. Lookups go through indexes kept in step with the log, so a search costs the
    rows it returns, not the rows held. Not thread-safe: the fake calls it under its lock.
    """

    def __init__(self, limit: int = DEFAULT_MAX_LEADS) -> None:
        """Keep at most `limit` leads (at least one)."""
        if limit < 1:
            raise ValueError(f"a lead log keeps at least one lead, not {limit}")
        self.limit = limit
        self.total = 0  # leads ever appended: the newest lead's seq
        self._by_seq: dict[int, Lead] = {}  # insertion order is seq order
        self._by_extern: dict[str, dict[int, Lead]] = {}
        self._by_campaign: dict[int, dict[int, Lead]] = {}

    def __len__(self) -> int:
        """How many leads are kept now (≤ limit)."""
        return len(self._by_seq)

    def append(self, lead: Lead) -> int:
        """Add one accepted lead (with `extern_id` and `campaign_id`); its seq. Forgets the oldest past the limit."""
        self.total += 1
        seq = lead["seq"] = self.total
        self._by_seq[seq] = lead
        self._by_extern.setdefault(str(lead["extern_id"]), {})[seq] = lead
        self._by_campaign.setdefault(int(lead["campaign_id"]), {})[seq] = lead
        while len(self._by_seq) > self.limit:
            self._forget(next(iter(self._by_seq)))
        return seq

    def _forget(self, seq: int) -> None:
        """Drop one lead from the log and from every index."""
        lead = self._by_seq.pop(seq)
        _drop(self._by_extern, str(lead["extern_id"]), seq)
        _drop(self._by_campaign, int(lead["campaign_id"]), seq)

    def since(self, seq: int = 0) -> list[Lead]:
        """The kept leads newer than `seq`, oldest first."""
        first = self.total - len(self._by_seq) + 1
        return list(islice(self._by_seq.values(), max(0, seq - first + 1), None))

    def search(self, campaigns: Iterable[int] = (), externs: Iterable[str] = (), limit: int = 50) -> list[Lead]:
        """Up to `limit` kept leads, oldest first, in any of `campaigns` and with any of `externs` (empty: any)."""
        wanted_campaigns, wanted_externs = set(campaigns), {str(e) for e in externs}
        if wanted_externs:
            rows: Iterator[Lead] = heapq.merge(
                *(self._by_extern[e].values() for e in wanted_externs if e in self._by_extern),
                key=_seq,
            )
            if wanted_campaigns:
                rows = (lead for lead in rows if lead["campaign_id"] in wanted_campaigns)
        elif wanted_campaigns:
            rows = heapq.merge(
                *(self._by_campaign[c].values() for c in wanted_campaigns if c in self._by_campaign),
                key=_seq,
            )
        else:
            rows = iter(self._by_seq.values())
        return list(islice(rows, max(0, limit)))


def _drop(index: dict[K, dict[int, Lead]], key: K, seq: int) -> None:
    """Remove `seq` from one index bucket; an emptied bucket goes too (the index stays bounded)."""
    bucket = index[key]
    del bucket[seq]
    if not bucket:
        del index[key]


def _seq(lead: Lead) -> int:
    """The sort key of merged index buckets: arrival order."""
    return int(lead["seq"])
