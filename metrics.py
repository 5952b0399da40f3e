"""Prometheus metrics: per-process counters, plus operational gauges read from the database.

The counters and histograms below count what *this* process did (docs/operations.md lists them);
the `OperatorCollector` gauges come from the database (cached ≤ CACHE_SECONDS), so every process
answers the same numbers.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from lead.lifecycle import LeadStatus

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from werkzeug.wrappers import Request

    from store.operator import Snapshot

REGISTRY = CollectorRegistry(auto_describe=True)

WEBHOOKS = Counter(
    "leadrelay_webhooks_total", "Webhook requests by source and answer", ["source", "outcome"], registry=REGISTRY
)
AUTH_FAILURES = Counter(
    "leadrelay_auth_failures_total", "Rejected webhooks by source and reason", ["source", "reason"], registry=REGISTRY
)
RECORDS = Counter(
    "leadrelay_records_total", "Records by source and intake status", ["source", "status"], registry=REGISTRY
)
ACK_SECONDS = Histogram(
    "leadrelay_ack_seconds",
    "Request received → answer ready",
    ["source"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
    registry=REGISTRY,
)
DISPATCHED = Counter("leadrelay_leads_settled_total", "Lead send outcomes", ["outcome", "sandbox"], registry=REGISTRY)
ENGAGE_CALLS = Counter("leadrelay_engage_calls_total", "Lead loader calls by result", ["result"], registry=REGISTRY)
SPEED_TO_LEAD = Histogram(
    "leadrelay_speed_to_lead_seconds",
    "Webhook received → Engage accepted the lead",
    ["priority"],
    buckets=(0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 30, 300),
    registry=REGISTRY,
)
IS_LEADER = Gauge("leadrelay_dispatcher_leader", "1 when this process holds the dispatcher lease", registry=REGISTRY)
SANDBOX = Gauge("leadrelay_sandbox", "1 when leads go to the sandbox (fake) Engage", registry=REGISTRY)

CACHE_SECONDS = 5.0  # scrapes agree up to what changed within this period
FAILURE_CACHE_SECONDS = 1.0  # a database outage is not queried more than once a second per process
logger = logging.getLogger("leadrelay.metrics")


class SnapshotCache:
    """One cached `store.operator.snapshot` per engine (None while the database cannot be read)."""

    def __init__(self) -> None:
        """An empty cache."""
        self._lock = threading.Lock()
        self._entries: weakref.WeakKeyDictionary[Engine, tuple[float, Snapshot | None]] = weakref.WeakKeyDictionary()

    def get(self, engine: Engine, max_age: float = CACHE_SECONDS) -> Snapshot | None:
        """The engine's snapshot, read again when older than `max_age`; None when the database fails.

        Ages of waiting leads are advanced by the time the snapshot spent in the cache, so the
        oldest-lead age keeps growing on every scrape between two reads of the database.
        """
        from store.operator import snapshot

        with self._lock:
            entry = self._entries.get(engine)
            elapsed = time.monotonic() - entry[0] if entry else 0.0
            if entry and elapsed < (max_age if entry[1] is not None else FAILURE_CACHE_SECONDS):
                return entry[1] if entry[1] is None else aged(entry[1], elapsed)
            try:
                value = snapshot(engine)
            except Exception as exc:  # the database is down: report it, never fail the scrape
                logger.warning("operator snapshot failed: %s", type(exc).__name__)
                value = None
            self._entries[engine] = (time.monotonic(), value)
            return value


def aged(snap: Snapshot, elapsed: float) -> Snapshot:
    """A copy of a cached snapshot as it stands `elapsed` seconds later (waiting leads older)."""
    from dataclasses import replace

    return replace(
        snap,
        now=snap.now + elapsed,
        oldest={lane: age + elapsed if age > 0 else 0.0 for lane, age in snap.oldest.items()},
        heartbeat_age=None if snap.heartbeat_age is None else snap.heartbeat_age + elapsed,
    )


SNAPSHOTS = SnapshotCache()


def _gauge(name: str, doc: str, labels: list[str] | None = None) -> GaugeMetricFamily:
    """A gauge family to fill."""
    return GaugeMetricFamily(name, doc, labels=labels)


class OperatorCollector:
    """Database-backed gauges for the app serving the current request."""

    def describe(self) -> list[GaugeMetricFamily]:
        """Nothing to describe up front (the families depend on the database answering)."""
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """Yield the gauges from the cached snapshot of the current app's database."""
        from flask import current_app, has_app_context

        if not has_app_context() or "leadrelay" not in current_app.extensions:
            return
        snap = SNAPSHOTS.get(current_app.extensions["leadrelay"].engine)
        up = _gauge("leadrelay_database_up", "1 when this process could read the database for the gauges below")
        up.add_metric([], 0 if snap is None else 1)
        yield up
        if snap is None:
            return
        yield from families(snap)


def families(snap: Snapshot) -> list[GaugeMetricFamily]:
    """The operational gauges of one snapshot."""
    leads = _gauge("leadrelay_leads", "Leads per status (database)", ["status"])
    for status, how_many in snap.statuses.items():
        leads.add_metric([status], how_many)
    oldest = _gauge(
        "leadrelay_queue_oldest_seconds", "Age of the oldest lead waiting to be sent, per lane (0: none)", ["lane"]
    )
    for lane, age in snap.oldest.items():
        oldest.add_metric([lane], round(age, 3))
    up = _gauge("leadrelay_dispatcher_up", "1 while a dispatcher's lease heartbeat is fresh")
    up.add_metric([], 1 if snap.dispatcher_up else 0)
    beat = _gauge(
        "leadrelay_dispatcher_heartbeat_age_seconds", "Seconds since the dispatcher's last heartbeat (-1: never)"
    )
    beat.add_metric([], -1 if snap.heartbeat_age is None else round(snap.heartbeat_age, 3))
    speed = _gauge(
        "leadrelay_speed_to_lead_recent_seconds",
        "Received → Engage accepted, over the last hour, per lane (database)",
        ["lane", "quantile"],
    )
    count = _gauge("leadrelay_speed_to_lead_recent_count", "Leads delivered in the last hour, per lane", ["lane"])
    for lane, stats in sorted(snap.speed.items()):
        speed.add_metric([lane, "0.5"], round(stats["p50"], 4))
        speed.add_metric([lane, "0.95"], round(stats["p95"], 4))
        count.add_metric([lane], stats["count"])
    firing = _gauge("leadrelay_alerts_firing", "Open alerts by kind", ["alert"])
    kinds: dict[str, int] = {}
    for alert in snap.firing:
        kinds[alert["kind"]] = kinds.get(alert["kind"], 0) + 1
    for kind, n in sorted(kinds.items()):
        firing.add_metric([kind], n)
    undelivered = _gauge(
        "leadrelay_alert_deliveries_failing",
        "Alert messages not delivered after at least one try (page from outside when > 0)",
    )
    undelivered.add_metric([], snap.alert_backlog)
    return [leads, oldest, up, beat, speed, count, firing, undelivered, *first_dial_families(snap)]


def first_dial_families(snap: Snapshot) -> list[GaugeMetricFamily]:
    """Speed to first dial: received → first attempt per source, campaign and window (1h, 24h)."""
    labels = ["source", "campaign", "window"]
    seconds = _gauge(
        "leadrelay_first_dial_seconds",
        "Received (or calling-window opening) → first dialer attempt, per source, campaign and window",
        [*labels, "quantile"],
    )
    count = _gauge("leadrelay_first_dial_count", "Leads with a first attempt in the window", labels)
    within = _gauge(
        "leadrelay_first_dial_within_ratio", "Share of those leads first dialed within the limit", [*labels, "within"]
    )
    for entry in snap.first_dial:
        key = [entry["source"], entry["campaign"], entry["window"]]
        seconds.add_metric([*key, "0.5"], round(entry["p50"], 3))
        seconds.add_metric([*key, "0.9"], round(entry["p90"], 3))
        count.add_metric(key, entry["count"])
        within.add_metric([*key, "60"], round(entry["within_60"], 4))
        within.add_metric([*key, "300"], round(entry["within_300"], 4))
    return [seconds, count, within]


REGISTRY.register(OperatorCollector())


def authorized(request: Request, token: str | None) -> bool:
    """`/metrics` is open unless METRICS_TOKEN is set; then it needs `Authorization: Bearer <token>`."""
    if not token:
        return True
    given = request.headers.get("Authorization", "")
    return given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), token.encode())


def operator_status(engine: Engine) -> dict[str, Any]:
    """For /readyz's body: what an external monitor needs to page (dispatcher, backlog, open alerts)."""
    snap = SNAPSHOTS.get(engine)
    if snap is None:
        return {"database": "unavailable"}
    return {
        "dispatcher_up": snap.dispatcher_up,
        "queue_oldest_seconds": {lane: round(age, 1) for lane, age in snap.oldest.items()},
        "waiting": snap.waiting,
        LeadStatus.DEAD: snap.statuses.get(LeadStatus.DEAD, 0),
        LeadStatus.HELD: snap.statuses.get(LeadStatus.HELD, 0),
        "alerts_firing": sorted(a["key"] for a in snap.firing),
        "alert_deliveries_failing": snap.alert_backlog,
    }


class AuthFailureFlusher:
    """Moves this process's rejected-webhook counter into the database, as deltas since the last flush."""

    def __init__(self) -> None:
        """Start from the counter as it stands (the loop starts with the process)."""
        self.flushed: dict[str, float] = self.totals()

    @staticmethod
    def totals() -> dict[str, float]:
        """This process's rejected webhooks per source, all reasons."""
        totals: dict[str, float] = {}
        for metric in AUTH_FAILURES.collect():
            for sample in metric.samples:
                if sample.name.endswith("_total"):
                    source = sample.labels["source"]
                    totals[source] = totals.get(source, 0.0) + sample.value
        return totals

    def pending(self) -> dict[str, int]:
        """New rejections per source since the last flush."""
        totals = self.totals()
        return {s: int(v - self.flushed.get(s, 0.0)) for s, v in totals.items() if v - self.flushed.get(s, 0.0) >= 1}

    def flush(self, engine: Engine) -> None:
        """Add the new counts to the database (nothing is lost if it fails: the next flush retries)."""
        from store.operator import add_auth_failures

        new = self.pending()
        if not new:
            return
        add_auth_failures(engine, new, time.time())
        for source, n in new.items():
            self.flushed[source] = self.flushed.get(source, 0.0) + n
