"""Persist one webhook: the event row and its lead rows in ONE transaction, before the answer."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from store.db import write

from store.schema import dedupe_keys, events, leads

# Lead states that count as "already on its way to (or in) the dialer" for suppression.
LIVE_STATES = ("queued", "sending", "retrying", "held", "delivered")
NOTIFY_CHANNEL = "leadrelay_leads"


@dataclass
class PendingLead:
    """One record's outcome before it is stored."""

    status: str  # queued | invalid | dropped (suppressed/duplicate are decided here)
    priority: str
    campaign: Any
    record_key: str
    key_expires_at: float | None  # None: a sender id, kept; a float: a hashed key that expires
    extern_id: str | None = None
    lead: dict | None = None
    record: dict | None = None
    errors: dict | None = None
    primary_phone: str | None = None
    load_options: dict | None = None
    suppress_within: float = 0.0
    suppress_by_phone: bool = False
    fetch: dict | None = None  # id-only record: what the fetch pool must get from the sender's API
    event: str | None = None


@dataclass
class Outcome:
    """What happened to one record: its lead id and final intake status."""

    status: str
    lead_id: int | None = None
    duplicate_of_event: int | None = None
    reasons: dict | None = None


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
        return bool(self.outcomes) and all(o.status == "duplicate" for o in self.outcomes)


def _json(value: Any) -> str | None:
    """Serialise to compact JSON (None stays NULL)."""
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)


def store_webhook(engine: Engine, *, source: str, received_at: float, method: str, path: str,
                  content_type: str, headers: dict, body: bytes, remote_addr: str,
                  event_status: str, reason: str | None, pending: list[PendingLead],
                  sandbox: bool) -> Stored:
    """Insert the event and its leads atomically; judge duplicates and suppression per record."""
    insert_key = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    with write(engine) as conn:
        event_id = conn.execute(
            events.insert().values(
                source=source, received_at=received_at, method=method, path=path,
                content_type=content_type, headers=_json(headers), body=body,
                status=event_status, reason=reason, remote_addr=remote_addr,
            ).returning(events.c.id)
        ).scalar_one()
        stored = Stored(event_id=event_id)
        for item in pending:
            stmt = insert_key(dedupe_keys).values(
                source=source, record_key=item.record_key, event_id=event_id,
                expires_at=item.key_expires_at,
            )
            # A hashed key past its dedupe window may be taken over by the new event.
            stmt = stmt.on_conflict_do_update(
                index_elements=["source", "record_key"],
                set_={"event_id": event_id, "lead_id": None, "expires_at": item.key_expires_at},
                where=(dedupe_keys.c.expires_at.is_not(None)) & (dedupe_keys.c.expires_at < received_at),
            ).returning(dedupe_keys.c.event_id)
            if conn.execute(stmt).first() is None:
                prior = conn.execute(
                    select(dedupe_keys.c.event_id, dedupe_keys.c.lead_id).where(
                        (dedupe_keys.c.source == source) & (dedupe_keys.c.record_key == item.record_key))
                ).first()
                stored.outcomes.append(Outcome("duplicate", lead_id=prior.lead_id, duplicate_of_event=prior.event_id))
                continue
            status = item.status
            if status == "queued" and item.suppress_within > 0:
                if recently_loaded(conn, item, received_at):
                    status = "suppressed"
            lead_id = conn.execute(
                leads.insert().values(
                    event_id=event_id, source=source, record_key=item.record_key,
                    extern_id=item.extern_id, status=status, priority=item.priority,
                    campaign=None if item.campaign is None else str(item.campaign),
                    load_options=_json(item.load_options), lead=_json(item.lead),
                    record=_json(item.record), errors=_json(item.errors),
                    primary_phone=item.primary_phone, sandbox=sandbox, fetch_spec=_json(item.fetch),
                    received_at=received_at, updated_at=received_at, next_attempt_at=0.0,
                ).returning(leads.c.id)
            ).scalar_one()
            conn.execute(
                dedupe_keys.update().where((dedupe_keys.c.source == source) & (dedupe_keys.c.record_key == item.record_key))
                .values(lead_id=lead_id)
            )
            stored.outcomes.append(Outcome(status, lead_id=lead_id, reasons=item.errors))
            if status == "queued":
                stored.queued += 1
                stored.wake.add(item.priority)
            elif status == "fetching":
                stored.fetching += 1
                stored.wake.add("fetch")
        if stored.all_duplicates:
            conn.execute(events.update().where(events.c.id == event_id).values(
                status="duplicate", duplicate_of=stored.outcomes[0].duplicate_of_event))
        if stored.wake and engine.dialect.name == "postgresql":
            # Delivered at commit: a hint that wakes the dispatcher in whichever process leads.
            notify(conn, stored.wake)
    return stored


def notify(conn, names) -> None:
    """NOTIFY the dispatcher processes which loops have work (payload: comma-separated names)."""
    conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": NOTIFY_CHANNEL, "payload": ",".join(sorted(names))})


def recently_loaded(conn, item: PendingLead, now: float) -> bool:
    """Whether the same prospect is already on its way to (or in) this campaign within the window."""
    since = now - item.suppress_within
    campaign = None if item.campaign is None else str(item.campaign)
    checks = []
    if item.extern_id:
        checks.append(leads.c.extern_id == item.extern_id)
    if item.suppress_by_phone and item.primary_phone:
        checks.append(leads.c.primary_phone == item.primary_phone)
    for check in checks:
        hit = conn.execute(
            select(leads.c.id).where(check & (leads.c.campaign == campaign)
                                     & (leads.c.received_at >= since)
                                     & (leads.c.status.in_(LIVE_STATES))).limit(1)
        ).first()
        if hit:
            return True
    return False
