"""Read-only numbers for the operator (metrics, console, alerts), all from the database."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from lead.lifecycle import DISPATCHABLE, LeadReason, LeadStatus, sql_list
from store.db import now_sql, write
from store.lease import read as read_lease

# Every lead status, in the lifecycle's order (gauges, the console's filter, the API's enum).
STATUSES = tuple(LeadStatus)
LANES = ("IMMEDIATE", "NORMAL")
S = LeadStatus
SPEED_WINDOW = 3600.0  # speed-to-lead over the last hour
SPEED_ROWS_MAX = 100_000  # bound the work of one snapshot whatever the traffic
HOURLY_ROWS_MAX = 200_000  # bound the console's 24 h chart the same way


@dataclass
class Snapshot:
    """The operational numbers every process reports the same way."""

    now: float
    statuses: dict[str, int]
    oldest: dict[str, float]  # lane → age in seconds of the oldest waiting lead (0 when none)
    waiting: int
    dispatcher_up: bool
    heartbeat_age: float | None
    holder: str | None
    engage_state: str | None
    engage_detail: str | None
    speed: dict[str, dict[str, float]]  # lane → {"p50", "p95", "count"} over SPEED_WINDOW
    firing: list[dict[str, Any]] = field(default_factory=list)  # open alerts: key, kind, since
    alert_backlog: int = 0  # alert messages not delivered yet after at least one failed try
    # Received → first attempt per source, campaign and window (store/dialing.py first_dial).
    first_dial: list[dict[str, Any]] = field(default_factory=list)


def quantile(values: list[float], q: float) -> float:
    """Nearest-rank quantile of sorted `values` (0 for none)."""
    if not values:
        return 0.0
    rank = max(1, math.ceil(q * len(values)))
    return values[min(rank, len(values)) - 1]


def snapshot(engine: Engine) -> Snapshot:
    """Read the numbers in one connection: statuses, backlog age, lease, speed-to-lead, open alerts."""
    lease = read_lease(engine)
    now = lease.now
    with engine.connect() as conn:
        statuses = {s.value: 0 for s in STATUSES}
        for status, count in conn.execute(text("SELECT status, COUNT(*) FROM leads GROUP BY status")):
            statuses[status] = int(count)
        oldest = dict.fromkeys(LANES, 0.0)
        for priority, first in conn.execute(
            text(
                f"SELECT priority, MIN(received_at) FROM leads WHERE status IN ({sql_list(DISPATCHABLE)}) "  # noqa: S608
                "GROUP BY priority"
            )
        ):
            if priority in oldest and first is not None:
                oldest[priority] = max(0.0, now - float(first))
        samples: dict[str, list[float]] = {lane: [] for lane in LANES}
        for priority, seconds in conn.execute(
            text(
                # Newest first: past the cap every process (and /metrics, the console, the alerts)
                # computes from the same rows, the latest ones (ix_leads_delivered_at serves the order).
                "SELECT priority, delivered_at - received_at FROM leads WHERE delivered_at >= :since "  # noqa: S608
                f"AND status='{S.DELIVERED}' ORDER BY delivered_at DESC, id DESC LIMIT :cap"
            ),
            {"since": now - SPEED_WINDOW, "cap": SPEED_ROWS_MAX},
        ):
            samples.setdefault(priority, []).append(max(0.0, float(seconds)))
        firing = [
            {"key": r.key, "kind": r.kind, "since": r.since, "details": json.loads(r.details or "{}")}
            for r in conn.execute(
                text("SELECT key, kind, since, details FROM alert_state WHERE state='firing' ORDER BY since")
            )
        ]
        alert_backlog = int(
            conn.execute(text("SELECT COUNT(*) FROM alert_outbox WHERE sent_at IS NULL AND attempts > 0")).scalar() or 0
        )
        first_dial = first_dial_stats(conn, now)
    speed = {}
    for lane, values in samples.items():
        values.sort()
        speed[lane] = {"p50": quantile(values, 0.5), "p95": quantile(values, 0.95), "count": float(len(values))}
    return Snapshot(
        now=now,
        statuses=statuses,
        oldest=oldest,
        waiting=sum(statuses[s] for s in DISPATCHABLE),
        dispatcher_up=lease.active,
        holder=lease.holder,
        heartbeat_age=None if lease.heartbeat_at is None else max(0.0, now - lease.heartbeat_at),
        engage_state=lease.engage_state,
        engage_detail=lease.engage_detail,
        speed=speed,
        firing=firing,
        alert_backlog=alert_backlog,
        first_dial=first_dial,
    )


def first_dial_stats(conn: Any, now: float) -> list[dict[str, Any]]:
    """Received → first attempt (store/dialing.py, which reads this module's quantile)."""
    from store.dialing import first_dial

    return first_dial(conn, now)


def db_clock(engine: Engine) -> float:
    """The database clock, epoch seconds."""
    with engine.connect() as conn:
        return float(conn.execute(text("SELECT " + now_sql(engine))).scalar_one())


def search_leads(
    engine: Engine,
    *,
    status: str | None = None,
    source: str | None = None,
    q: str | None = None,
    limit: int = 50,
    before_id: int | None = None,
) -> list[dict[str, Any]]:
    """Recent leads, newest first; `q` matches the externId, an email, or the last 4 digits of a phone."""
    from sqlalchemy import func, or_, select

    from store.queue import lead_row
    from store.schema import leads

    query = select(leads).order_by(leads.c.id.desc()).limit(limit)
    if status:
        query = query.where(leads.c.status == status)
    if source:
        query = query.where(leads.c.source == source)
    if before_id:
        query = query.where(leads.c.id < before_id)
    if q:
        q = q.strip()
        terms = [leads.c.extern_id == q]
        if "@" in q:
            terms.append(func.lower(leads.c.lead).like(f'%"{_like(q.lower())}"%', escape="\\"))
        if q.isdigit() and len(q) == 4:
            terms.append(leads.c.primary_phone.like(f"%{q}"))
        query = query.where(or_(*terms))
    with engine.connect() as conn:
        return [lead_row(r._mapping) for r in conn.execute(query)]


def _like(value: str) -> str:
    """Escape LIKE wildcards in a search term."""
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# A held lead's status_reason names its hold: account_hold (credentials refused) or campaign_hold
# (that campaign's breaker). A held lead without a reason (held by hand, or by a dispatcher older
# than revision 0005) belongs to its campaign's hold, as it did before.
_ACCOUNT = f"COALESCE(status_reason, '') = '{LeadReason.ACCOUNT_HOLD}'"


def release_held(engine: Engine, scope: str) -> list[int]:
    """Re-queue the leads of one hold (`account` or `campaign:<name>`, as `holds()` names them); their ids.

    Only that hold's leads: releasing the account leaves a held campaign held, and the other way
    round, by the same status_reason rule `holds()` lists them with.
    """
    if scope == "account":
        where, params = _ACCOUNT, {}
    else:
        where, params = f"campaign=:c AND NOT {_ACCOUNT}", {"c": scope.split(":", 1)[1]}
    with write(engine) as conn:
        rows = conn.execute(
            # `where` is one of the two fixed literals above and `now_sql` the database clock: no input.
            text(
                f"UPDATE leads SET status='{S.QUEUED}', status_reason=NULL, next_attempt_at=0, "  # noqa: S608
                f"updated_at={now_sql(engine)} WHERE status='{S.HELD}' AND {where} RETURNING id"
            ),
            params,
        ).fetchall()
    return sorted(r[0] for r in rows)


def holds(engine: Engine) -> list[dict[str, Any]]:
    """Current holds from the held leads: the account (credentials refused) or one campaign each."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                # last_error is only shown (one text of each hold, for people), never used to tell holds apart.
                f"SELECT campaign, {_ACCOUNT} AS account, MIN(last_error) AS reason, "  # noqa: S608
                "MIN(updated_at) AS since, COUNT(*) AS n FROM leads "
                f"WHERE status='{S.HELD}' GROUP BY campaign, {_ACCOUNT} ORDER BY MIN(updated_at)"
            )
        ).fetchall()
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        reason = row.reason or ""
        scope = "account" if row.account else f"campaign:{row.campaign}"
        entry = found.setdefault(
            scope,
            {
                "scope": scope,
                "campaign": None if scope == "account" else row.campaign,
                "reason": reason,
                "since": row.since,
                "leads": 0,
            },
        )
        entry["leads"] += int(row.n)
        entry["since"] = min(entry["since"], row.since)
    return list(found.values())


def source_stats(engine: Engine, since: float) -> dict[str, dict[str, Any]]:
    """Per source: last webhook seen, lead counts by status and failed/held events since `since`."""
    out: dict[str, dict[str, Any]] = {}
    with engine.connect() as conn:
        for source, last in conn.execute(text("SELECT source, MAX(received_at) FROM events GROUP BY source")):
            out.setdefault(source, {"last_seen": None, "statuses": {}, "events": {}})["last_seen"] = last
        for source, status, n in conn.execute(
            text("SELECT source, status, COUNT(*) FROM leads WHERE received_at >= :s GROUP BY source, status"),
            {"s": since},
        ):
            out.setdefault(source, {"last_seen": None, "statuses": {}, "events": {}})["statuses"][status] = int(n)
        for source, status, n in conn.execute(
            text("SELECT source, status, COUNT(*) FROM events WHERE received_at >= :s GROUP BY source, status"),
            {"s": since},
        ):
            out.setdefault(source, {"last_seen": None, "statuses": {}, "events": {}})["events"][status] = int(n)
    return out


def last_seen(engine: Engine, source: str) -> float | None:
    """When the last webhook from `source` was stored (None: never)."""
    with engine.connect() as conn:
        value = conn.execute(text("SELECT MAX(received_at) FROM events WHERE source=:s"), {"s": source}).scalar()
    return None if value is None else float(value)


def hourly(engine: Engine, now: float, hours: int = 24) -> list[dict[str, Any]]:
    """Per hour of the last `hours`: leads by outcome and speed-to-lead p50/p95 (received → accepted)."""
    start = (now // 3600 - hours + 1) * 3600
    buckets: list[dict[str, Any]] = [{"start": start + i * 3600, "outcomes": {}, "speeds": []} for i in range(hours)]
    with engine.connect() as conn:
        for received, status, delivered in conn.execute(
            # Newest first (ix_leads_received), so past the cap every process drops the same, oldest rows.
            text(
                "SELECT received_at, status, delivered_at FROM leads WHERE received_at >= :s "
                "ORDER BY received_at DESC, id DESC LIMIT :cap"
            ),
            {"s": start, "cap": HOURLY_ROWS_MAX},
        ):
            index = int((received - start) // 3600)
            if 0 <= index < hours:
                bucket = buckets[index]
                bucket["outcomes"][status] = bucket["outcomes"].get(status, 0) + 1
                if status == S.DELIVERED and delivered is not None:
                    bucket["speeds"].append(max(0.0, delivered - received))
    for bucket in buckets:
        speeds = sorted(bucket.pop("speeds"))
        bucket["p50"], bucket["p95"] = quantile(speeds, 0.5), quantile(speeds, 0.95)
        bucket["total"] = sum(bucket["outcomes"].values())
    return buckets


def today_by_source(engine: Engine, now: float) -> dict[str, dict[str, int]]:
    """Today's (UTC) lead counts by source and status."""
    start = now - (now % 86400)
    out: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for source, status, n in conn.execute(
            text("SELECT source, status, COUNT(*) FROM leads WHERE received_at >= :s GROUP BY source, status"),
            {"s": start},
        ):
            out.setdefault(source, {})[status] = int(n)
    return out


def add_auth_failures(engine: Engine, counts: dict[str, int], now: float) -> None:
    """Add this process's new rejected-webhook counts to the current hour (all processes sum up)."""
    from store.db import write

    hour = now - now % 3600
    with write(engine) as conn:
        for source, n in counts.items():
            conn.execute(
                text(
                    "INSERT INTO auth_failure_counts (source, hour, count) VALUES (:s, :h, :n) "
                    "ON CONFLICT (source, hour) DO UPDATE SET count = auth_failure_counts.count + excluded.count"
                ),
                {"s": source[:100], "h": hour, "n": n},
            )
        conn.execute(text("DELETE FROM auth_failure_counts WHERE hour < :old"), {"old": hour - 7 * 86400})


def auth_failures_since(engine: Engine, since: float) -> dict[str, int]:
    """Rejected webhooks per source since `since` (hour granularity)."""
    with engine.connect() as conn:
        return {
            r[0]: int(r[1])
            for r in conn.execute(
                text("SELECT source, SUM(count) FROM auth_failure_counts WHERE hour >= :h GROUP BY source"),
                {"h": since - since % 3600},
            )
        }


def recent_records(engine: Engine, source: str, since: float, limit: int = 500) -> list[dict[str, Any]]:
    """The sender-native records a source stored since `since`, newest first, at most `limit`.

    `./leadrelay try` reads which fields the source's webhooks carry (ix_leads_received serves the range).
    """
    query = text(
        "SELECT record FROM leads WHERE source = :source AND received_at >= :since AND record IS NOT NULL "
        "ORDER BY received_at DESC LIMIT :limit"
    )
    found = []
    with engine.connect() as conn:
        for (raw,) in conn.execute(query, {"source": source, "since": since, "limit": limit}):
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict):
                found.append(record)
    return found
