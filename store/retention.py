"""Personal data lifetime: purge raw bodies and lead data after retention_days; forget one person."""

from __future__ import annotations

import time
import unicodedata

from sqlalchemy import or_, select
from sqlalchemy.engine import Engine

from lead.lifecycle import PURGEABLE
from store.db import write
from store.schema import attempts, events, leads


def purge(engine: Engine, retention_days: int, now: float | None = None) -> dict[str, int]:
    """Erase raw bodies, headers and lead data older than the retention period (rows and counts stay)."""
    cutoff = (now or time.time()) - retention_days * 86400
    with write(engine) as conn:
        bodies = conn.execute(
            events.update()
            .where((events.c.received_at < cutoff) & events.c.body.is_not(None))
            .values(body=None, headers=None)
        ).rowcount
        people = conn.execute(
            leads.update()
            .where(
                (leads.c.received_at < cutoff)
                & leads.c.status.in_(sorted(PURGEABLE))  # finished: never a lead still waiting
                & (leads.c.lead.is_not(None) | leads.c.record.is_not(None))
            )
            .values(lead=None, record=None, primary_phone=None, engage_response=None)
        ).rowcount
        # Dialer events: the customer's number and the call recording's link are theirs.
        calls = conn.execute(
            attempts.update()
            .where(
                (attempts.c.attempt_at < cutoff)
                & (attempts.c.phone.is_not(None) | attempts.c.recording_url.is_not(None))
            )
            .values(phone=None, recording_url=None)
        ).rowcount
    return {"event_bodies": bodies, "leads": people, "dialer_events": calls}


def forget(engine: Engine, phone: str | None = None, email: str | None = None) -> dict[str, int]:
    """Erase a person: every lead whose data holds the phone (10-digit/E.164) or email, and their raw bodies."""
    # Emails are NFKC-normalised and lower-cased before mapping (mappings/base.py): the same here,
    # so a full-width ＡＤＡ@ＥＸＡＭＰＬＥ.ＣＯＭ finds the lead stored as ada@example.com.
    wanted = unicodedata.normalize("NFKC", email).strip().lower() if email else None
    terms = [t for t in (phone, wanted) if t]
    if not terms:
        return {"leads": 0, "event_bodies": 0}
    conditions = []
    for term in terms:
        pattern = f"%{term}%"
        conditions += [leads.c.lead.like(pattern), leads.c.record.like(pattern), leads.c.primary_phone == term]
    with write(engine) as conn:
        rows = conn.execute(select(leads.c.id, leads.c.event_id).where(or_(*conditions))).fetchall()
        lead_ids = [r.id for r in rows]
        event_ids = sorted({r.event_id for r in rows})
        if lead_ids:
            conn.execute(
                leads.update()
                .where(leads.c.id.in_(lead_ids))
                .values(
                    lead=None,
                    record=None,
                    primary_phone=None,
                    engage_response=None,
                    errors=None,
                    last_error="personal data erased on request",
                )
            )
        if phone:
            # The dialer's events about this number: their number, recording link and raw bodies go too.
            calls = conn.execute(select(attempts.c.id, attempts.c.event_id).where(attempts.c.phone == phone)).fetchall()
            if calls:
                conn.execute(
                    attempts.update()
                    .where(attempts.c.id.in_([c.id for c in calls]))
                    .values(phone=None, recording_url=None)
                )
                event_ids = sorted(set(event_ids) | {c.event_id for c in calls})
        if event_ids:
            conn.execute(events.update().where(events.c.id.in_(event_ids)).values(body=None, headers=None))
    return {"leads": len(lead_ids), "event_bodies": len(event_ids)}
