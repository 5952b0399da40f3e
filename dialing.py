"""Dialer events in (the `ringcx` type): map each record, then store the event and its attempts at once."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from config import Source
from handlers.base import Record
from lead.phones import to_e164
from mappings.ringcx import DialerEvent, map_dialer_event
from store import optouts
from store.attempts import (
    EFFECT_DNC,
    EFFECT_FINAL,
    AttemptIn,
    Followup,
    Rules,
    StoredEvents,
    store_dialer_event,
)
from store.optouts import Effect
from store.outbox import PRIORITY_WRITEBACK, JobState, Outbox, enqueue


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
    engine: Engine,
    source: Source,
    records: list[Record],
    received_at: float,
    event: dict[str, Any],
    sources: Mapping[str, Source] | None = None,
) -> StoredEvents:
    """Map the records and store them with their raw event; the attempt time is the receipt time.

    `sources` (every configured source) says where each matched lead's outcome is written back.
    """
    items = [attempt_in(map_dialer_event(source.settings, record)) for record in records]
    return store_dialer_event(
        engine,
        source=source.name,
        received_at=received_at,
        event=event,
        items=items,
        rules=rules_of(source),
        after=followups(sources or {}),
    )


_LEAD = text("SELECT id, extern_id, primary_phone, source, campaign FROM leads WHERE id = :id")


def followups(sources: Mapping[str, Source]) -> Followup:
    """What a recorded attempt causes, in its transaction: the write-back jobs of its lead's source."""

    def after(conn: Connection, attempt: dict[str, Any]) -> None:
        """A do-not-call disposition's opt-out, then the attempt's write-back jobs (matched leads only)."""
        lead = None
        if attempt["lead_id"] is not None:
            lead = dict(conn.execute(_LEAD, {"id": attempt["lead_id"]}).mappings().one())
        if attempt["effect"] == EFFECT_DNC:
            do_not_call(conn, attempt, lead)
        if lead is None:
            return
        for kind, key, payload in writeback_jobs(sources, lead, attempt):
            enqueue(conn, kind, key, payload, priority=PRIORITY_WRITEBACK, now=float(attempt["attempt_at"]))

    return after


def do_not_call(conn: Connection, attempt: dict[str, Any], lead: dict[str, Any] | None) -> None:
    """A do-not-call disposition is an opt-out (store/optouts.py): the list, the number's other leads, Engage.

    The record is the matched lead's (its source and externId: its leads stop, loaded ones are
    cancelled in Engage); the numbers are the caller's and the record's leads'; other pending leads
    with any of them are blocked, and Engage's internal DNC list gets them. An unmatched event
    still lists the caller's number.
    """
    e164 = to_e164(attempt["phone"]) if attempt["phone"] else None
    effect = Effect(
        opt_out=True,
        cancel=False,
        erase=False,
        extern_id=None if lead is None else lead["extern_id"],
        phones=(e164,) if e164 else (),
        rule=f"dnc_dispositions: {attempt['disposition']}",
    )
    if effect.extern_id is None and not effect.phones:
        return
    optouts.apply(
        conn,
        effect,
        source=str(lead["source"] if lead is not None else attempt["source"]),
        event_id=int(attempt["event_id"]),
        lead_id=None,
        now=float(attempt["attempt_at"]),
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


def writeback_status(engine: Engine, attempt_ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Per attempt: its write-back jobs (target, state, tries, last error) for the lead page."""
    outbox = Outbox(engine)
    out: dict[int, list[dict[str, Any]]] = {}
    for attempt_id in attempt_ids:
        for target, kind in WRITEBACK_KINDS.items():
            job = outbox.by_key(f"{kind}:{attempt_id}")
            if job is not None:
                out.setdefault(attempt_id, []).append(
                    {
                        "target": target,
                        "state": job.state,
                        "finished": job.state == JobState.DONE,
                        "attempts": job.attempts,
                        "error": job.last_error,
                    }
                )
    return out
