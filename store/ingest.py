"""Persist one webhook: the event row and its lead rows in ONE transaction, before the answer."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from lead.lifecycle import SUPPRESSING, LeadStatus, sql_list
from store import optouts, updates
from store.db import write
from store.optouts import Effect

NOTIFY_CHANNEL = "leadrelay_leads"
# Lead states that count as "already on its way to (or in) the dialer" for suppression.
_LIVE_SQL = sql_list(SUPPRESSING)
S = LeadStatus


class EventStatus(enum.StrEnum):
    """One value of `events.status`: what became of a whole request (not a lead's status)."""

    ACCEPTED = "accepted"  # stored with its records
    DUPLICATE = "duplicate"  # every record had been seen before (a sender's retry)
    MALFORMED = "malformed"  # the body could not be parsed
    INVALID = "invalid"  # no record could be mapped
    DROPPED = "dropped"  # nothing to dial


# A record's intake outcome is its lead's status, or this: it had been seen before (no new row).
DUPLICATE = "duplicate"


@dataclass
class PendingLead:
    """One record's outcome before it is stored."""

    status: str  # a LeadStatus: queued | fetching | invalid | dropped (suppressed/duplicate are decided here)
    priority: str
    campaign: Any
    record_key: str
    key_expires_at: float | None  # None: a sender id, kept; a float: a hashed key that expires
    extern_id: str | None = None
    lead: dict[str, Any] | None = None
    record: dict[str, Any] | None = None
    errors: dict[str, Any] | None = None
    primary_phone: str | None = None
    load_options: dict[str, Any] | None = None
    suppress_within: float = 0.0
    suppress_by_phone: bool = False
    fetch: dict[str, Any] | None = None  # id-only record: what the fetch pool must get from the sender's API
    event: str | None = None
    warnings: dict[str, list[str]] | None = None  # optional fields left out of the lead, each with why
    route_name: str | None = None  # the matched route's `name:`, if it has one
    route_position: int | None = None  # 1-based among the source's routes; 0: the fallback
    # A lifecycle rule matched (store/optouts.py): the row is stored with its status and the effect
    # (other leads, the do-not-call list, Engage jobs) is applied in the same transaction.
    effect: Effect | None = None

    def __post_init__(self) -> None:
        """Refuse a status the lifecycle does not know."""
        self.status = LeadStatus(self.status)


@dataclass
class Outcome:
    """What happened to one record: its lead id and final intake status (a lead status, or DUPLICATE)."""

    status: str
    lead_id: int | None = None
    duplicate_of_event: int | None = None
    reasons: dict[str, Any] | None = None
    prior_status: LeadStatus | None = None  # a duplicate: the status of the lead it duplicates


@dataclass
class Stored:
    """The result of persisting a webhook."""

    event_id: int
    outcomes: list[Outcome] = field(default_factory=list)
    queued: int = 0
    fetching: int = 0
    wake: set[str] = field(default_factory=set)  # loops to wake: lane names and/or "fetch"

    @property
    def all_duplicates(self) -> bool:
        """True when every record had been seen before (a sender retry)."""
        return bool(self.outcomes) and all(o.status == DUPLICATE for o in self.outcomes)


def _json(value: Any) -> str | None:
    """Serialise to compact JSON (None stays NULL)."""
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


def _extras(item: PendingLead) -> dict[str, Any]:
    """The lead columns that explain it: warnings (dropped optional fields) and the matched route."""
    return {
        "warnings": _json(item.warnings or None),
        "route_name": item.route_name,
        "route_position": item.route_position,
    }


# Prebuilt statements: this is the hot path of every webhook, and building Core statements
# per request cost more CPU than the database work itself. Same SQL on SQLite and PostgreSQL.
_INSERT_EVENT = text(
    "INSERT INTO events (source, received_at, method, path, content_type, headers, body, status, reason, "
    "remote_addr) VALUES (:source, :received_at, :method, :path, :content_type, :headers, :body, :status, "
    ":reason, :remote_addr) RETURNING id"
)
# A hashed key past its dedupe window may be taken over by the new event; a live key may not,
# and then nothing is returned: the record is a duplicate.
_CLAIM_KEY = text(
    "INSERT INTO dedupe_keys (source, record_key, event_id, expires_at) VALUES (:source, :key, :event_id, :expires) "
    "ON CONFLICT (source, record_key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at "
    "WHERE dedupe_keys.expires_at IS NOT NULL AND dedupe_keys.expires_at < :now RETURNING event_id"
)
_PRIOR = text(
    "SELECT k.event_id, p.id, p.status FROM dedupe_keys k LEFT JOIN leads p ON p.id = "
    "(SELECT MAX(l.id) FROM leads l WHERE l.source = k.source AND l.record_key = k.record_key) "
    "WHERE k.source = :source AND k.record_key = :key"
)
_INSERT_LEAD = text(
    "INSERT INTO leads (event_id, source, record_key, extern_id, status, priority, campaign, load_options, lead, "
    "record, errors, primary_phone, sandbox, fetch_spec, received_at, updated_at, next_attempt_at, attempts, claims, "
    "warnings, route_name, route_position) "
    "VALUES (:event_id, :source, :record_key, :extern_id, :status, :priority, :campaign, :load_options, :lead, "
    ":record, :errors, :primary_phone, :sandbox, :fetch_spec, :received_at, :updated_at, 0.0, 0, 0, "
    ":warnings, :route_name, :route_position) RETURNING id"
)
_MARK_DUPLICATE = text(f"UPDATE events SET status = '{EventStatus.DUPLICATE}', duplicate_of = :original WHERE id = :id")


def store_webhook(
    engine: Engine,
    *,
    source: str,
    received_at: float,
    method: str,
    path: str,
    content_type: str,
    headers: dict[str, Any],
    body: bytes,
    remote_addr: str,
    event_status: str,
    reason: str | None,
    pending: list[PendingLead],
    sandbox: bool,
) -> Stored:
    """Insert the event and its leads atomically; judge duplicates and suppression per record."""
    event = {
        "source": source,
        "received_at": received_at,
        "method": method,
        "path": path,
        "content_type": content_type,
        "headers": _json(headers),
        "body": body,
        "status": EventStatus(event_status),
        "reason": reason,
        "remote_addr": remote_addr,
    }
    if engine.dialect.name == "postgresql" and len(pending) == 1 and not _needs_transaction(pending[0]):
        return _store_one_postgres(engine, pending[0], event, sandbox)
    with write(engine) as conn:
        event_id = conn.execute(_INSERT_EVENT, event).scalar_one()
        stored = Stored(event_id=event_id)
        for item in pending:
            claimed = conn.execute(
                _CLAIM_KEY,
                {
                    "source": source,
                    "key": item.record_key,
                    "event_id": event_id,
                    "expires": item.key_expires_at,
                    "now": received_at,
                },
            ).first()
            if claimed is None:
                prior = conn.execute(_PRIOR, {"source": source, "key": item.record_key}).one()
                stored.outcomes.append(
                    Outcome(DUPLICATE, lead_id=prior[1], duplicate_of_event=prior[0], prior_status=_status(prior[2]))
                )
                continue
            status = LeadStatus(item.status)
            if status == S.QUEUED:
                target = updates.find_pending(conn, source, item.extern_id)
                now_status = (
                    None if target is None else updates.update_pending(conn, target, item, event_id, received_at)
                )
                if target is not None and now_status is not None:
                    # The same record again before its lead was loaded: one lead, newest fields.
                    stored.outcomes.append(Outcome(now_status, lead_id=target))
                    stored.wake.add(item.priority)
                    continue
            if status == S.QUEUED and item.suppress_within > 0 and recently_loaded(conn, item, received_at):
                status = S.SUPPRESSED
                updates.note_after_load(conn, source, item.extern_id, event_id, received_at)
            lead_id = conn.execute(
                _INSERT_LEAD,
                {
                    "event_id": event_id,
                    "source": source,
                    "record_key": item.record_key,
                    "extern_id": item.extern_id,
                    "status": status,
                    "priority": item.priority,
                    "campaign": None if item.campaign is None else str(item.campaign),
                    "load_options": _json(item.load_options),
                    "lead": _json(item.lead),
                    "record": _json(item.record),
                    "errors": _json(item.errors),
                    "primary_phone": item.primary_phone,
                    "sandbox": sandbox,
                    "fetch_spec": _json(item.fetch),
                    "received_at": received_at,
                    "updated_at": received_at,
                    **_extras(item),
                },
            ).scalar_one()
            stored.outcomes.append(Outcome(status, lead_id=lead_id, reasons=item.errors))
            if item.effect is not None:
                optouts.apply(conn, item.effect, source=source, event_id=event_id, lead_id=lead_id, now=received_at)
            if status == S.QUEUED:
                stored.queued += 1
                stored.wake.add(item.priority)
            elif status == S.FETCHING:
                stored.fetching += 1
                stored.wake.add("fetch")
        if stored.all_duplicates:
            conn.execute(_MARK_DUPLICATE, {"original": stored.outcomes[0].duplicate_of_event, "id": event_id})
        if stored.wake and engine.dialect.name == "postgresql":
            # Delivered at commit: a hint that wakes the dispatcher in whichever process leads.
            notify(conn, stored.wake)
    return stored


def _needs_transaction(item: PendingLead) -> bool:
    """Whether one record needs the general path: a lifecycle effect (other leads, the list, jobs)."""
    return item.effect is not None


# The common case on PostgreSQL — one record per webhook — in ONE statement and one round trip
# (autocommit: a single statement is its own transaction): event, dedupe key, suppression check,
# lead row (or the update of this record's waiting lead, with its timeline row) and NOTIFY. The
# general path above needs six round trips; at hundreds of webhooks a
# second on a small dyno that difference is most of the ack time. Data-modifying CTEs see the
# snapshot from before the statement, which is exactly what the duplicate and suppression
# checks need (an earlier key or lead, never this statement's own rows).
_STORE_ONE_PG = text(f"""
WITH ev AS (
  INSERT INTO events (source, received_at, method, path, content_type, headers, body, status, reason, remote_addr)
  VALUES (:source, :received_at, :method, :path, :content_type, :headers, :body, :status, :reason, :remote_addr)
  RETURNING id
), k AS (
  INSERT INTO dedupe_keys (source, record_key, event_id, expires_at)
  SELECT :source, :record_key, ev.id, CAST(:expires AS float8) FROM ev
  ON CONFLICT (source, record_key) DO UPDATE SET event_id = excluded.event_id, expires_at = excluded.expires_at
  WHERE dedupe_keys.expires_at IS NOT NULL AND dedupe_keys.expires_at < :received_at
  RETURNING event_id
), w AS (
  SELECT id FROM leads WHERE CAST(:check_update AS boolean) AND source = :source AND extern_id = :extern_id
    AND status IN ({updates._UPDATABLE_SQL}) ORDER BY id DESC LIMIT 1
), u AS (
  UPDATE leads SET lead = :lead, record = :record, priority = :priority, campaign = :campaign,
         primary_phone = :primary_phone, load_options = :load_options, updated_at = :received_at,
         warnings = :warnings, route_name = :route_name, route_position = CAST(:route_position AS integer)
  FROM k, w WHERE leads.id = w.id AND leads.status IN ({updates._UPDATABLE_SQL})
  RETURNING leads.id, leads.status
), au AS (
  INSERT INTO audit_log (at, lead_id, kind, actor, detail)
  SELECT :received_at, u.id, 'update', 'event:' || ev.id, CAST(json_build_object(
    'event_id', ev.id,
    'text', 'updated before loading by event ' || ev.id || ': newest fields, priority ' || :priority
            || ', campaign ' || COALESCE(CAST(:campaign AS text), 'none'),
    'fields', CAST(:update_fields AS json)) AS text)
  FROM u, ev
), s AS (
  SELECT CASE WHEN CAST(:check_recent AS boolean) AND EXISTS (
    SELECT 1 FROM leads r WHERE r.campaign = :campaign AND (r.received_at >= :since OR r.disposed_at >= :since)
      AND r.status IN ({_LIVE_SQL})
      AND (r.extern_id = :extern_id OR (CAST(:by_phone AS boolean) AND r.primary_phone = :primary_phone))
  ) THEN '{S.SUPPRESSED}' ELSE CAST(:lead_status AS varchar) END AS status
), l AS (
  INSERT INTO leads (event_id, source, record_key, extern_id, status, priority, campaign, load_options, lead,
                     record, errors, primary_phone, sandbox, fetch_spec, received_at, updated_at, next_attempt_at,
                     attempts, claims, warnings, route_name, route_position)
  SELECT k.event_id, :source, :record_key, :extern_id, s.status, :priority, :campaign, :load_options, :lead,
         :record, :errors, :primary_phone, :sandbox, :fetch_spec, :received_at, :received_at, 0.0, 0, 0,
         :warnings, :route_name, CAST(:route_position AS integer)
  FROM k, s WHERE NOT EXISTS (SELECT 1 FROM u)
  RETURNING id, status
)
SELECT ev.id, COALESCE(l.id, u.id), COALESCE(l.status, u.status),
       (SELECT d.event_id FROM dedupe_keys d WHERE d.source = :source AND d.record_key = :record_key),
       (SELECT MAX(p.id) FROM leads p WHERE p.source = :source AND p.record_key = :record_key),
       CASE WHEN COALESCE(l.status, u.status) IN ({sql_list((S.QUEUED, S.FETCHING))})
            THEN pg_notify('{NOTIFY_CHANNEL}', :wake) END,
       (SELECT q.status FROM leads q WHERE q.id =
          (SELECT MAX(p.id) FROM leads p WHERE p.source = :source AND p.record_key = :record_key))
FROM ev LEFT JOIN l ON true LEFT JOIN u ON true
""")


def _store_one_postgres(engine: Engine, item: PendingLead, event: dict[str, Any], sandbox: bool) -> Stored:
    """store_webhook for one record on PostgreSQL: one statement, one round trip."""
    params = {
        **event,
        "record_key": item.record_key,
        "expires": item.key_expires_at,
        "extern_id": item.extern_id,
        "lead_status": item.status,
        "priority": item.priority,
        "campaign": None if item.campaign is None else str(item.campaign),
        "load_options": _json(item.load_options),
        "lead": _json(item.lead),
        "record": _json(item.record),
        "errors": _json(item.errors),
        "primary_phone": item.primary_phone,
        "sandbox": sandbox,
        "fetch_spec": _json(item.fetch),
        "check_recent": item.status == S.QUEUED and item.suppress_within > 0,
        # The same record again while its lead waits updates that lead (store/updates.py).
        "check_update": item.status == S.QUEUED and bool(item.extern_id),
        "update_fields": json.dumps(sorted((item.lead or {}).keys())),
        "by_phone": bool(item.suppress_by_phone),
        "since": event["received_at"] - item.suppress_within,
        "wake": "fetch" if item.status == S.FETCHING else item.priority,
        **_extras(item),
    }
    with engine.connect() as conn:
        row = conn.execution_options(isolation_level="AUTOCOMMIT").execute(_STORE_ONE_PG, params).one()
        event_id, lead_id, prior_event, prior_lead = row[0], row[1], row[3], row[4]
        stored = Stored(event_id=event_id)
        if lead_id is None:
            stored.outcomes.append(
                Outcome(DUPLICATE, lead_id=prior_lead, duplicate_of_event=prior_event, prior_status=_status(row[6]))
            )
            conn.execute(_MARK_DUPLICATE, {"original": prior_event, "id": event_id})
            return stored
        status = LeadStatus(row[2])
        if status == S.SUPPRESSED:
            # A change after the load: noted on the loaded lead's timeline (one more statement,
            # only for this case).
            updates.note_after_load(conn, event["source"], item.extern_id, event_id, event["received_at"])
    stored.outcomes.append(Outcome(status, lead_id=lead_id, reasons=item.errors))
    if status == S.QUEUED:
        stored.queued, stored.wake = 1, {item.priority}
    elif status == S.FETCHING:
        stored.fetching, stored.wake = 1, {"fetch"}
    return stored


def _status(value: str | None) -> LeadStatus | None:
    """A status read back from the database as the enum (None: the prior lead is gone)."""
    return None if value is None else LeadStatus(value)


def notify(conn: Connection, names: Iterable[str]) -> None:
    """NOTIFY the dispatcher processes which loops have work (payload: comma-separated names)."""
    conn.execute(
        text("SELECT pg_notify(:channel, :payload)"), {"channel": NOTIFY_CHANNEL, "payload": ",".join(sorted(names))}
    )


_LIVE = _LIVE_SQL
_RECENT = {
    column: text(
        f"SELECT 1 FROM leads WHERE campaign = :campaign AND {column} = :value "
        # A lead the dialer finished (done) suppresses from its final disposition, not its receipt.
        f"AND (received_at >= :since OR disposed_at >= :since) AND status IN ({_LIVE}) LIMIT 1"
    )
    for column in ("extern_id", "primary_phone")
}


def recently_loaded(conn: Connection, item: PendingLead, now: float) -> bool:
    """Whether the same prospect is already on its way to (or in) this campaign within the window."""
    checks = [("extern_id", item.extern_id)]
    if item.suppress_by_phone:
        checks.append(("primary_phone", item.primary_phone))
    campaign = None if item.campaign is None else str(item.campaign)
    for column, value in checks:
        if (
            value
            and conn.execute(
                _RECENT[column], {"campaign": campaign, "value": value, "since": now - item.suppress_within}
            ).first()
        ):
            return True
    return False


# Cross-process rate limits (html_form): what every process stored recently, by client or phone.
_RECENT_HITS = {
    "ip": text("SELECT COUNT(*) FROM events WHERE source = :source AND remote_addr = :key AND received_at >= :since"),
    "phone": text(
        "SELECT COUNT(*) FROM leads WHERE source = :source AND primary_phone = :key AND received_at >= :since"
    ),
}


def recent_hits(engine: Engine, source: str, kind: str, key: str, since: float) -> int:
    """How many events from this client ("ip") or leads for this phone ("phone") the source stored since `since`."""
    with engine.connect() as conn:
        return int(conn.execute(_RECENT_HITS[kind], {"source": source, "key": key, "since": since}).scalar() or 0)
