"""A record that changes: before its lead is loaded the pending lead takes the newest fields; after, it is noted.

One lead per record: the same source and externId sent again (a CRM's update) while its lead
still waits is not a second lead. The pending lead takes the new record's fields, route
(priority, campaign) and numbers — prepare.py has mapped and routed it afresh, and the claim-time
gates judge it again when it is claimed. A lead already loaded is not loaded again (the
suppression window stays the rule): the change is recorded on its timeline. Runs inside the
store's transaction (store/ingest.py).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from lead.lifecycle import LeadStatus, sql_list
from store.schema import audit_log

# Waiting to be loaded, with a mapped lead to replace (a `fetching` record has none yet; a `sending`
# one is in flight: its update is recorded after the load like any other).
UPDATABLE = frozenset({LeadStatus.QUEUED, LeadStatus.RETRYING, LeadStatus.HELD, LeadStatus.DEFERRED})
LOADED = frozenset({LeadStatus.DELIVERED, LeadStatus.DONE})
_UPDATABLE_SQL = sql_list(UPDATABLE)

_FIND = text(
    f"SELECT id FROM leads WHERE source = :source AND extern_id = :extern AND status IN ({_UPDATABLE_SQL}) "
    "ORDER BY id DESC LIMIT 1"
)
# The claim may have taken the lead since it was found: the status check makes the update a no-op then.
_UPDATE = text(
    "UPDATE leads SET lead = :lead, record = :record, priority = :priority, campaign = :campaign, "
    "primary_phone = :primary_phone, load_options = :load_options, updated_at = :now, "
    "warnings = :warnings, route_name = :route_name, route_position = :route_position "
    f"WHERE id = :id AND status IN ({_UPDATABLE_SQL}) RETURNING id, status, lead"
)
_LOADED = text(
    f"SELECT id FROM leads WHERE source = :source AND extern_id = :extern AND status IN ({sql_list(LOADED)}) "
    "ORDER BY id DESC LIMIT 1"
)


def find_pending(conn: Connection, source: str, extern_id: str | None) -> int | None:
    """The newest lead of this record still waiting to be loaded, or None."""
    if not extern_id:
        return None
    row = conn.execute(_FIND, {"source": source, "extern": extern_id}).first()
    return None if row is None else int(row[0])


def update_pending(conn: Connection, lead_id: int, item: Any, event_id: int, now: float) -> str | None:
    """Give the pending lead the record's newest fields and route; its status, or None if it was claimed.

    `item` is the PendingLead prepare built for the new record.
    """
    row = conn.execute(
        _UPDATE,
        {
            "id": lead_id,
            "lead": _json(item.lead),
            "record": _json(item.record),
            "priority": item.priority,
            "campaign": None if item.campaign is None else str(item.campaign),
            "primary_phone": item.primary_phone,
            "load_options": _json(item.load_options),
            "warnings": _json(item.warnings or None),
            "route_name": item.route_name,
            "route_position": item.route_position,
            "now": now,
        },
    ).first()
    if row is None:
        return None
    detail = {
        "event_id": event_id,
        "text": f"updated before loading by event {event_id}: newest fields, "
        f"priority {item.priority}, campaign {item.campaign}",
        "fields": sorted((item.lead or {}).keys()),
    }
    _audit(conn, lead_id, detail, event_id, now)
    return str(row[1])


def note_after_load(conn: Connection, source: str, extern_id: str | None, event_id: int, now: float) -> int | None:
    """Record on the loaded lead of this record that it changed after the load (not reloaded); its id."""
    if not extern_id:
        return None
    row = conn.execute(_LOADED, {"source": source, "extern": extern_id}).first()
    if row is None:
        return None
    detail = {"event_id": event_id, "text": f"changed after the load (event {event_id}): recorded, not reloaded"}
    _audit(conn, int(row[0]), detail, event_id, now)
    return int(row[0])


def _audit(conn: Connection, lead_id: int, detail: dict[str, Any], event_id: int, now: float) -> None:
    """One `update` row on the lead's timeline."""
    conn.execute(
        audit_log.insert().values(
            at=now, lead_id=lead_id, kind="update", actor=f"event:{event_id}", detail=json.dumps(detail, default=str)
        )
    )


def _json(value: Any) -> str | None:
    """Compact JSON (None stays NULL), as the store writes it."""
    return None if value is None else json.dumps(value, separators=(",", ":"), default=str)
