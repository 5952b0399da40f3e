"""Dialer events in (the `ringcx` type): map each record, then store the event and its attempts at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from sqlalchemy.engine import Engine

from config import Source
from handlers.base import Record
from mappings.ringcx import DialerEvent, map_dialer_event
from store.attempts import EFFECT_DNC, EFFECT_FINAL, AttemptIn, Rules, StoredEvents, store_dialer_event


def rules_of(source: Source) -> Rules:
    """The source's disposition rules (`dnc_dispositions:`, `final_dispositions:`)."""
    options = source.settings.options
    return Rules(
        dnc=frozenset(options.get("dnc_dispositions") or ()),
        final=frozenset(options.get("final_dispositions") or ()),
    )


def attempt_in(dialer_event: DialerEvent) -> AttemptIn:
    """The store's view of one mapped dialer event."""
    values = asdict(dialer_event)
    key = values.pop("key")
    return AttemptIn(key=key, values=values, connected=dialer_event.connected)


def record_events(
    engine: Engine, source: Source, records: list[Record], received_at: float, event: dict[str, Any]
) -> StoredEvents:
    """Map the records and store them with their raw event; the attempt time is the receipt time."""
    items = [attempt_in(map_dialer_event(source.settings, record)) for record in records]
    return store_dialer_event(
        engine, source=source.name, received_at=received_at, event=event, items=items, rules=rules_of(source)
    )


def answer_body(stored: StoredEvents) -> dict[str, Any]:
    """The JSON answer: the event id and, per record, its attempt, lead and how it was matched."""
    if stored.all_duplicates:
        return {"event_id": stored.outcomes[0].duplicate_of_event, "duplicate": True}
    return {
        "event_id": stored.event_id,
        "attempts": [
            {
                "attempt_id": o.attempt_id,
                "lead_id": o.lead_id,
                "matched_by": o.matched_by,
                "status": "duplicate" if o.duplicate else ("recorded" if o.lead_id is not None else "unmatched"),
                **({"effect": o.effect} if o.effect else {}),
            }
            for o in stored.outcomes
        ],
    }


# Write-back job kinds by target key of `writeback:` (names fixed by the outbox contract).
WRITEBACK_KINDS = {"webhook": "writeback.webhook", "hubspot": "writeback.hubspot", "salesforce": "writeback.salesforce"}
FINAL_EFFECTS = frozenset({EFFECT_FINAL, EFFECT_DNC})  # what `send: final` sends: the lead's last word


def writeback_jobs(
    sources: Mapping[str, Source], lead: Mapping[str, Any], attempt: Mapping[str, Any]
) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, key, payload) per write-back target of the lead's own source; none when it has no `writeback:`."""
    source = sources.get(str(lead["source"]))
    if source is None or not source.writeback:
        return []
    settings = source.writeback
    final = attempt.get("effect") in FINAL_EFFECTS
    if settings["send"] == "final" and not final:
        return []
    payload = {
        "lead": {
            "lead_id": int(lead["id"]),
            "externId": lead["extern_id"],
            "phone": lead["primary_phone"],
            "source": lead["source"],
            "campaign": lead["campaign"],
        },
        "attempt": {
            "attempt_id": int(attempt["id"]),
            "uii": attempt["uii"],
            "disposition": attempt["disposition"],
            "system_disposition": attempt["system_disposition"],
            "call_start": attempt["call_start"],
            "duration": attempt["duration"],
            "agent": attempt["agent"],
            "recording_url": attempt["recording_url"],
            "attempt_at": float(attempt["attempt_at"]),
            "connected": bool(attempt["connected"]),
            "final": final,
        },
        "lead_ids": [int(lead["id"])],
    }
    return [
        (kind, f"{kind}:{attempt['id']}", payload) for target, kind in WRITEBACK_KINDS.items() if settings.get(target)
    ]
