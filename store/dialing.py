"""Speed to first dial, read from the database: received → first attempt per source and campaign, and leads not dialed.

The clock of a lead starts at the later of its receipt and the opening of its calling window: a
lead that arrives at night cannot be dialed before morning, and counting the night would hide
how fast the team is once it may call. The compliance gates record that opening as the lead's
`clock_from` (revision 0008), so the start is `clock_from` when set, else the receipt time
(`DIAL_START`, the one place that says so). A wait for a consent answer (TrustedForm) moves no clock:
it is leadrelay's own latency and counts.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from lead.lifecycle import LeadStatus
from store.operator import quantile

# clock_from is only ever set later than received_at: COALESCE is the later of the two.
DIAL_START = "COALESCE(clock_from, received_at)"
WINDOWS = {"1h": 3600.0, "24h": 86400.0}
WITHIN = (60.0, 300.0)  # the shares reported: first attempt within 60 s and within 5 minutes
ROWS_MAX = 200_000  # bound one read whatever the traffic
ACTIVE_CAMPAIGN_DAYS = 7  # a campaign "sends events" when one of its leads had an attempt this recently

_FIRST_ATTEMPTS = text(
    f"SELECT source, campaign, first_attempt_at, first_attempt_at - {DIAL_START} AS wait FROM leads "  # noqa: S608 - a constant expression
    "WHERE first_attempt_at >= :since ORDER BY first_attempt_at DESC LIMIT :cap"
)


def first_dial(conn: Connection, now: float) -> list[dict[str, Any]]:
    """Per source, campaign and window (1h, 24h): count, p50, p90 of received → first attempt, shares within 60 s / 5 min."""
    since = now - max(WINDOWS.values())
    samples: dict[tuple[str, str, str], list[float]] = {}
    for row in conn.execute(_FIRST_ATTEMPTS, {"since": since, "cap": ROWS_MAX}):
        wait = max(0.0, float(row.wait))
        for window, seconds in WINDOWS.items():
            if row.first_attempt_at >= now - seconds:
                samples.setdefault((row.source, row.campaign or "", window), []).append(wait)
    out = []
    for (source, campaign, window), values in sorted(samples.items()):
        values.sort()
        entry: dict[str, Any] = {
            "source": source,
            "campaign": campaign,
            "window": window,
            "count": len(values),
            "p50": quantile(values, 0.5),
            "p90": quantile(values, 0.9),
        }
        for limit in WITHIN:
            entry[f"within_{int(limit)}"] = sum(1 for v in values if v <= limit) / len(values)
        out.append(entry)
    return out


_NOT_DIALED = text(
    "SELECT campaign, COUNT(*) AS leads, MIN(delivered_at) AS oldest FROM leads "
    # A lead RingCX has dialed (leadSearch's pass count, the backstop) without telling us is not "not dialed".
    "WHERE status = :loaded_status AND first_attempt_at IS NULL AND COALESCE(dial_passes, 0) = 0 "
    "AND delivered_at <= :loaded_before "
    "AND delivered_at >= :horizon AND campaign IN ("
    "  SELECT DISTINCT campaign FROM leads WHERE first_attempt_at >= :active_since AND campaign IS NOT NULL"
    ") GROUP BY campaign ORDER BY campaign"
)


def not_dialed(conn: Connection, now: float, after: float) -> list[dict[str, Any]]:
    """Per campaign that sends dialer events: leads loaded more than `after` seconds ago with no attempt yet."""
    rows = conn.execute(
        _NOT_DIALED,
        {
            "loaded_status": LeadStatus.DELIVERED.value,
            "loaded_before": now - after,
            "horizon": now - WINDOWS["24h"],
            "active_since": now - ACTIVE_CAMPAIGN_DAYS * 86400.0,
        },
    )
    return [{"campaign": r.campaign, "leads": int(r.leads), "oldest_loaded_at": float(r.oldest)} for r in rows]


_MILESTONES = text(
    "SELECT received_at, delivered_at, first_attempt_at, first_connect_at, dial_passes, dial_checked_at, disposed_at "
    "FROM leads WHERE id = :id"
)


def milestones(conn: Connection, lead_id: int) -> dict[str, Any] | None:
    """A lead's way to the first dial: received → loaded → first attempt → first connect (None when unknown)."""
    row = conn.execute(_MILESTONES, {"id": lead_id}).mappings().first()
    return None if row is None else dict(row)


def hourly(conn: Connection, now: float, hours: int = 24) -> list[dict[str, Any]]:
    """Per hour of the last `hours` (by first attempt): leads first dialed, and received → first attempt p50/p90."""
    start = (now // 3600 - hours + 1) * 3600
    waits: list[list[float]] = [[] for _ in range(hours)]
    for row in conn.execute(_FIRST_ATTEMPTS, {"since": start, "cap": ROWS_MAX}):
        index = int((row.first_attempt_at - start) // 3600)
        if 0 <= index < hours:
            waits[index].append(max(0.0, float(row.wait)))
    buckets = []
    for i, values in enumerate(waits):
        values.sort()
        buckets.append(
            {
                "start": start + i * 3600,
                "total": len(values),
                "p50": quantile(values, 0.5),
                "p90": quantile(values, 0.9),
            }
        )
    return buckets


# Web services fire on agent events: an unanswered call may send nothing. The backstop asks RingCX
# (campaignLeads/leadSearch) about loaded leads it has not heard of, in campaigns that send events.
_UNHEARD = text(
    "SELECT id, campaign, extern_id FROM leads WHERE status = :loaded_status AND first_attempt_at IS NULL "
    "AND delivered_at <= :quiet_since AND delivered_at >= :horizon "
    "AND (dial_checked_at IS NULL OR dial_checked_at <= :recheck_before) AND extern_id IS NOT NULL "
    "AND campaign IN (SELECT DISTINCT campaign FROM leads WHERE first_attempt_at >= :active_since "
    "AND campaign IS NOT NULL) ORDER BY dial_checked_at IS NOT NULL, dial_checked_at, delivered_at LIMIT :limit"
)
_PASSES = text("UPDATE leads SET dial_passes = COALESCE(:passes, dial_passes), dial_checked_at = :now WHERE id = :id")


def unheard(conn: Connection, now: float, quiet: float, recheck: float, limit: int) -> list[dict[str, Any]]:
    """Loaded leads without any dialer event for `quiet` seconds, not checked for `recheck` seconds (oldest check first)."""
    rows = conn.execute(
        _UNHEARD,
        {
            "loaded_status": LeadStatus.DELIVERED.value,
            "quiet_since": now - quiet,
            "horizon": now - WINDOWS["24h"],
            "recheck_before": now - recheck,
            "active_since": now - ACTIVE_CAMPAIGN_DAYS * 86400.0,
            "limit": limit,
        },
    ).mappings()
    return [dict(r) for r in rows]


def record_passes(conn: Connection, now: float, passes: dict[int, int | None]) -> None:
    """Store what leadSearch said per lead (None: not found or no count) and when it was asked."""
    for lead_id, count in passes.items():
        conn.execute(_PASSES, {"passes": count, "now": now, "id": lead_id})
