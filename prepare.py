"""Map and route one record into what the store keeps (used by intake and by the fetch pool)."""

from __future__ import annotations

import hashlib
import json
from typing import Any, TypedDict

import mappings
import routing
from config import Source
from handlers._limits import unsafe_text
from handlers.base import Record
from lead.lifecycle import LeadStatus
from store.ingest import PendingLead
from store.optouts import Effect


class _Common(TypedDict):
    """The PendingLead fields every outcome shares."""

    record_key: str
    key_expires_at: float | None
    record: dict[str, Any] | None
    load_options: dict[str, Any]
    suppress_within: float
    suppress_by_phone: bool


def record_key(source: Source, record: Record, received_at: float) -> tuple[str, float | None]:
    """The idempotency key: the sender's ids (kept), or a hash of the record (expires after dedupe_window)."""
    if record.key:
        key = f"k:{record.key}"
        if len(key) > 190 or unsafe_text(key):
            # Too long for the key column, or text PostgreSQL refuses: the same sender id
            # still gives the same key, so a retry is still a duplicate.
            key = "k#" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
        return key, None
    digest = hashlib.sha256(json.dumps(record.fields, sort_keys=True, default=str).encode()).hexdigest()
    return f"h:{digest}", received_at + source.dedupe_window


def prepare(
    source: Source,
    record: Record,
    received_at: float,
    check_events: bool = True,
    change: routing.Change | None = None,
) -> PendingLead:
    """Decide one record's fate: opt-out/cancel (lifecycle rules), fetching, dropped, invalid or queued.

    Fetching: ids only; dropped: the `events:` filter or a route; invalid: the mapping. The fetch
    pool passes check_events=False (the sender's event was judged at intake) with its own verdict
    of the lifecycle rules on the fetched record as `change`; intake passes its verdict when it has
    one. A `change` given is honoured either way.
    """
    key, expires = record_key(source, record, received_at)
    options = {
        "duplicateHandling": source.duplicate_handling,
        "timeZoneOption": source.time_zone_option,
        "description": source.list_description,
    }
    common: _Common = {
        "record_key": key,
        "key_expires_at": expires,
        "record": record.fields,
        "load_options": options,
        "suppress_within": source.suppress_within,
        "suppress_by_phone": source.suppress_by_phone,
    }
    if check_events and change is None:
        # Lifecycle rules first: no `events:` filter, mapping or route can shadow an opt-out.
        change = routing.lifecycle(source.lifecycle, record)
    if change is not None:
        return _lifecycle_record(source, record, change, common)
    if check_events and source.lifecycle.only:
        # A channel that only carries lifecycle changes (an SMS number anyone can text): a
        # message no rule matches is kept for audit and never dialed.
        decision = routing.choose(source.routes, record, None)
        return PendingLead(
            status=LeadStatus.DROPPED,
            priority=decision.priority,
            campaign=decision.campaign,
            errors={"lifecycle": [f"no lifecycle rule matched: a {source.type} message is never a lead"]},
            **route_of(source, decision),
            **common,
        )
    if check_events and source.events is not None and record.event not in source.events:
        decision = routing.choose(source.routes, record, None)
        return PendingLead(
            status=LeadStatus.DROPPED,
            priority=decision.priority,
            campaign=decision.campaign,
            errors={"event": [f"{record.event!r} is not in this source's events"]},
            **route_of(source, decision),
            **common,
        )
    if record.fetch is not None:
        # Ids only: the record is fetched from the sender's API off the request path.
        decision = routing.choose(source.routes, record, None)
        return PendingLead(
            status=LeadStatus.FETCHING,
            priority=decision.priority,
            campaign=decision.campaign,
            fetch=record.fetch,
            event=record.event,
            **route_of(source, decision),
            **common,
        )
    try:
        lead, warnings = mappings.map_lead(source.settings, record)
    except mappings.MappingError as exc:
        decision = routing.choose(source.routes, record, None)
        return PendingLead(
            status=LeadStatus.INVALID,
            priority=decision.priority,
            campaign=decision.campaign,
            extern_id=mappings.extern_id_of(source.settings, record),
            errors=exc.errors,
            **route_of(source, decision),
            **common,
        )
    decision = routing.choose(source.routes, record, lead)
    return PendingLead(
        status=LeadStatus.DROPPED if decision.drop else LeadStatus.QUEUED,
        priority=decision.priority,
        campaign=decision.campaign,
        extern_id=lead["externId"],
        lead=lead,
        primary_phone=lead["leadPhone"].split("|", 1)[0],
        warnings=warnings or None,
        **route_of(source, decision),
        **common,
    )


def route_of(source: Source, decision: routing.Decision) -> dict[str, Any]:
    """The matched route as stored with the lead: its name and 1-based position (0: the fallback)."""
    fallback = decision.route_index == len(source.routes) - 1
    return {
        "route_name": decision.route_name,
        "route_position": 0 if fallback else decision.route_index + 1,
    }


def _lifecycle_record(source: Source, record: Record, change: routing.Change, common: _Common) -> PendingLead:
    """An opt-out, cancel or privacy deletion: stored as such (never a lead), its effect applied by the store.

    It needs only an externId or a phone; one with neither cannot name anybody and is invalid.
    """
    who = mappings.identify(source.settings, record)
    fallback = source.routes[-1]
    effect = Effect(
        opt_out=change.opt_out,
        cancel=change.cancel,
        erase=change.erase,
        extern_id=who.extern_id,
        phones=tuple(who.phones),
        rule=change.rule,
    )
    if change.erase:
        common = common.copy()
        common["record"] = None  # a privacy deletion keeps nothing of the person
    if who.extern_id is None and not who.phones:
        return PendingLead(
            status=LeadStatus.INVALID,
            priority=fallback.priority,
            campaign=fallback.campaign,
            errors={"lifecycle": [f"{change.rule} matched, but the record has no externId and no phone"]},
            **common,
        )
    return PendingLead(
        status=effect.status,
        priority=fallback.priority,
        campaign=fallback.campaign,
        extern_id=who.extern_id,
        effect=effect,
        **common,
    )
