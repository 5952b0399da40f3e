"""Dialer events: the raw event and its attempts in ONE transaction, each matched to its lead.

Matching (the lead must have been loaded into the dialer): the lead's externId in the event's
campaign, then the externId alone (RingCX's campaign id may not be the name leadrelay routes
by), then the customer's number against the lead's primary phone; the newest loaded lead wins.
An event that matches nothing is kept (lead_id NULL) and listed in the console.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.engine import Connection, Engine

from lead.lifecycle import LeadStatus
from store.db import write
from store.schema import attempts, events

# What a disposition does to its lead (attempts.effect).
EFFECT_FINAL = "final"
EFFECT_DNC = "dnc"
EFFECT_APP_DNC = "app_dnc"  # RingCX's own scrub: recorded, never added to leadrelay's list


# What an attempt causes elsewhere, in its transaction (dialing.py builds it from the config).
Followup = Callable[[Connection, dict[str, Any]], None]


@dataclass(frozen=True)
class Rules:
    """A ringcx source's disposition rules (exact agent-disposition names)."""

    dnc: frozenset[str] = frozenset()
    final: frozenset[str] = frozenset()
    app_dnc: str = "APP_DNC"

    def effect(self, disposition: str | None, system_disposition: str | None) -> str | None:
        """What this attempt does to its lead: a do-not-call request wins over a final outcome."""
        if disposition is not None and disposition in self.dnc:
            return EFFECT_DNC
        if system_disposition is not None and system_disposition.upper() == self.app_dnc:
            return EFFECT_APP_DNC
        if disposition is not None and disposition in self.final:
            return EFFECT_FINAL
        return None


@dataclass
class AttemptIn:
    """One attempt to store (the mapped dialer event, flattened by the caller)."""

    key: str
    values: dict[str, Any]  # the attempts columns from uii to recording_url
    connected: bool


@dataclass
class AttemptOut:
    """What happened to one dialer event."""

    attempt_id: int | None
    lead_id: int | None
    matched_by: str | None
    effect: str | None = None
    duplicate_of_event: int | None = None

    @property
    def duplicate(self) -> bool:
        """True when the same call segment had been recorded before (a resend)."""
        return self.duplicate_of_event is not None


@dataclass
class StoredEvents:
    """The stored dialer event: its event row and one outcome per record."""

    event_id: int
    outcomes: list[AttemptOut] = field(default_factory=list)

    @property
    def all_duplicates(self) -> bool:
        """True when every record had been recorded before."""
        return bool(self.outcomes) and all(o.duplicate for o in self.outcomes)


# Only leads loaded into the dialer can be dialed; the newest such lead is the one a call is about.
_MATCHES = (
    (
        "extern_id_campaign",
        ("extern_id", "campaign"),
        text(
            "SELECT id FROM leads WHERE extern_id = :extern_id AND campaign = :campaign "
            "AND delivered_at IS NOT NULL ORDER BY id DESC LIMIT 1"
        ),
    ),
    (
        "extern_id",
        ("extern_id",),
        text("SELECT id FROM leads WHERE extern_id = :extern_id AND delivered_at IS NOT NULL ORDER BY id DESC LIMIT 1"),
    ),
    (
        "phone",
        ("phone",),
        text("SELECT id FROM leads WHERE primary_phone = :phone AND delivered_at IS NOT NULL ORDER BY id DESC LIMIT 1"),
    ),
)
_INSERT = text(
    "INSERT INTO attempts (event_id, source, record_key, lead_id, matched_by, kind, uii, extern_id, phone, campaign, "
    "agent, agent_id, disposition, system_disposition, call_start, duration, recording_url, connected, effect, "
    "attempt_at) VALUES (:event_id, :source, :record_key, :lead_id, :matched_by, :kind, :uii, :extern_id, :phone, "
    ":campaign, :agent, :agent_id, :disposition, :system_disposition, :call_start, :duration, :recording_url, "
    ":connected, :effect, :attempt_at) ON CONFLICT (source, record_key) DO NOTHING RETURNING id"
)
_PRIOR = text("SELECT event_id, lead_id, matched_by, effect FROM attempts WHERE source = :source AND record_key = :key")
# The earliest time wins even when events arrive out of order.
_MILESTONES = text(
    "UPDATE leads SET "
    "first_attempt_at = CASE WHEN first_attempt_at IS NULL OR first_attempt_at > :at THEN :at "
    "ELSE first_attempt_at END, "
    "first_connect_at = CASE WHEN :connected AND (first_connect_at IS NULL OR first_connect_at > :at) THEN :at "
    "ELSE first_connect_at END "
    "WHERE id = :lead_id"
)


# A final disposition ends a loaded lead (delivered → done); its suppression counts from now.
_DONE = text(
    "UPDATE leads SET status = :final_status, disposed_at = :at, updated_at = :at WHERE id = :lead_id AND status = :loaded_status"
)


def match_lead(
    conn: Connection, extern_id: str | None, campaign: str | None, phone: str | None
) -> tuple[int, str] | None:
    """The loaded lead this event reports on and how it was found, or None."""
    params = {"extern_id": extern_id, "campaign": campaign, "phone": phone}
    for how, needed, statement in _MATCHES:
        if not all(params[name] for name in needed):
            continue
        row = conn.execute(statement, params).first()
        if row is not None:
            return int(row[0]), how
    return None


def store_dialer_event(
    engine: Engine,
    *,
    source: str,
    received_at: float,
    event: dict[str, Any],
    items: Iterable[AttemptIn],
    rules: Rules,
    after: Followup | None = None,
) -> StoredEvents:
    """Insert the event and its attempts atomically; match each to its lead and move the lead's milestones.

    `after(conn, attempt)` runs in the same transaction for each newly recorded attempt (its row as
    stored): what the attempt causes elsewhere (write-back jobs, a do-not-call entry) commits with it.
    """
    columns = {**event, "headers": json.dumps(event.get("headers"), separators=(",", ":"), default=str)}
    with write(engine) as conn:
        event_id = conn.execute(
            events.insert()
            .values(source=source, received_at=received_at, status="accepted", **columns)
            .returning(events.c.id)
        ).scalar_one()
        stored = StoredEvents(event_id=event_id)
        for item in items:
            outcome = _store_one(conn, source, event_id, received_at, item, rules)
            stored.outcomes.append(outcome)
            if after is not None and outcome.attempt_id is not None:
                row = conn.execute(select(attempts).where(attempts.c.id == outcome.attempt_id)).mappings().one()
                after(conn, dict(row))
        if stored.all_duplicates:
            conn.execute(
                events.update()
                .where(events.c.id == event_id)
                .values(status="duplicate", duplicate_of=stored.outcomes[0].duplicate_of_event)
            )
    return stored


def _store_one(conn: Connection, source: str, event_id: int, at: float, item: AttemptIn, rules: Rules) -> AttemptOut:
    """One attempt: a duplicate of an earlier one, or a new row matched to its lead."""
    values = item.values
    found = match_lead(conn, values.get("extern_id"), values.get("campaign"), values.get("phone"))
    lead_id, matched_by = found if found else (None, None)
    effect = rules.effect(values.get("disposition"), values.get("system_disposition"))
    row = conn.execute(
        _INSERT,
        {
            **values,
            "event_id": event_id,
            "source": source,
            "record_key": item.key,
            "lead_id": lead_id,
            "matched_by": matched_by,
            "connected": item.connected,
            "effect": effect,
            "attempt_at": at,
        },
    ).first()
    if row is None:
        prior = conn.execute(_PRIOR, {"source": source, "key": item.key}).one()
        return AttemptOut(None, prior.lead_id, prior.matched_by, prior.effect, duplicate_of_event=prior.event_id)
    if lead_id is not None:
        conn.execute(_MILESTONES, {"at": at, "connected": item.connected, "lead_id": lead_id})
        if effect == EFFECT_FINAL:
            conn.execute(
                _DONE,
                {
                    "at": at,
                    "lead_id": lead_id,
                    "final_status": LeadStatus.DONE.value,
                    "loaded_status": LeadStatus.DELIVERED.value,
                },
            )
    return AttemptOut(int(row[0]), lead_id, matched_by, effect)


def for_lead(engine: Engine, lead_id: int) -> list[dict[str, Any]]:
    """A lead's attempts, oldest first (its timeline)."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(attempts).where(attempts.c.lead_id == lead_id).order_by(attempts.c.attempt_at, attempts.c.id)
        ).mappings()
        return [dict(r) for r in rows]


def unmatched(engine: Engine, limit: int = 100, before_id: int | None = None) -> list[dict[str, Any]]:
    """Dialer events that matched no lead, newest first (the console's "Dialer events" list)."""
    query = select(attempts).where(attempts.c.lead_id.is_(None))
    if before_id is not None:
        query = query.where(attempts.c.id < before_id)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(attempts.c.id.desc()).limit(limit)).mappings()
        return [dict(r) for r in rows]
