"""Compliance evidence and the frequency caps' load log (tables of revision 0008).

Evidence rows hold E.164 numbers, email, certificate id and each decision with its inputs, never
the raw body, and have no foreign key: lead purges, forgets and privacy deletions leave them until
`keep_until` (compliance.evidence_days), when `purge_evidence` removes them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, case, delete, func, insert, or_, select, text, update
from sqlalchemy.engine import Connection, Engine

from compliance.trustedform import RetainResult
from lead.lifecycle import LeadReason
from lead.lifecycle import LeadStatus as S
from store.db import write
from store.ingest import NOTIFY_CHANNEL
from store.schema import compliance_evidence, compliance_loads, leads

DAY = 86400.0
RETAIN_GATE = "retain"


@dataclass(frozen=True)
class EvidenceRow:
    """One decision about one lead, ready to insert."""

    lead_id: int | None
    source: str | None
    extern_id: str | None
    phones: Sequence[str]
    email: str | None
    cert_id: str | None
    gate: str
    decision: str
    detail: dict[str, Any]
    decided_at: float
    evidence_days: int


def record(conn: Connection, rows: Iterable[EvidenceRow]) -> None:
    """Insert evidence rows inside the caller's transaction (with the decision they document)."""
    values = [
        {
            "lead_id": r.lead_id,
            "source": r.source,
            "extern_id": r.extern_id,
            "phone": r.phones[0] if r.phones else None,
            "phones": json.dumps(list(r.phones)),
            "email": r.email,
            "cert_id": r.cert_id,
            "gate": r.gate,
            "decision": r.decision,
            "detail": json.dumps(r.detail, default=str, sort_keys=True),
            "decided_at": r.decided_at,
            "keep_until": r.decided_at + r.evidence_days * DAY,
        }
        for r in rows
    ]
    if values:
        conn.execute(insert(compliance_evidence), values)


def record_loads(conn: Connection, lead_id: int, phones: Sequence[str], at: float) -> None:
    """Count one load of each of the lead's numbers (for the rolling 24-hour caps)."""
    if phones:
        conn.execute(insert(compliance_loads), [{"phone": p, "lead_id": lead_id, "loaded_at": at} for p in phones])


def loads_within(conn: Connection, phones: Sequence[str], since: float, exclude_lead: int | None = None) -> int:
    """Loads of any of these numbers since `since`, across every source and campaign (one per lead)."""
    if not phones:
        return 0
    query = select(func.count(func.distinct(compliance_loads.c.lead_id))).where(
        compliance_loads.c.phone.in_(list(phones)), compliance_loads.c.loaded_at > since
    )
    if exclude_lead is not None:
        query = query.where(compliance_loads.c.lead_id != exclude_lead)
    return int(conn.execute(query).scalar_one())


@dataclass(frozen=True)
class RetainState:
    """A lead's retain history: the latest result, when the first attempt was, how many attempts."""

    last: RetainResult | None
    first_at: float | None
    last_at: float | None
    attempts: int


def retain_states(conn: Connection, lead_ids: Sequence[int]) -> dict[int, RetainState]:
    """The retain history of each lead (leads without one are absent)."""
    if not lead_ids:
        return {}
    rows = conn.execute(
        select(compliance_evidence.c.lead_id, compliance_evidence.c.detail, compliance_evidence.c.decided_at)
        .where(compliance_evidence.c.lead_id.in_(list(lead_ids)), compliance_evidence.c.gate == RETAIN_GATE)
        .order_by(compliance_evidence.c.id)
    ).fetchall()
    states: dict[int, RetainState] = {}
    for lead_id, detail, at in rows:
        prior = states.get(lead_id)
        states[lead_id] = RetainState(
            last=RetainResult.from_record(json.loads(detail or "{}")),
            first_at=prior.first_at if prior else at,
            last_at=at,
            attempts=(prior.attempts if prior else 0) + 1,
        )
    return states


def for_lead(conn: Connection, lead_id: int) -> list[dict[str, Any]]:
    """Every decision about one lead, oldest first (the admin API and the console)."""
    rows = conn.execute(
        select(compliance_evidence).where(compliance_evidence.c.lead_id == lead_id).order_by(compliance_evidence.c.id)
    ).mappings()
    return [_row(r) for r in rows]


def report(
    engine: Engine,
    phone: str | None = None,
    extern_id: str | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int = 10000,
) -> list[dict[str, Any]]:
    """Decisions by phone (any of a lead's numbers), externId or a time range, oldest first."""
    where = []
    if phone:
        where.append(or_(compliance_evidence.c.phone == phone, compliance_evidence.c.phones.contains(f'"{phone}"')))
    if extern_id:
        where.append(compliance_evidence.c.extern_id == extern_id)
    if since is not None:
        where.append(compliance_evidence.c.decided_at >= since)
    if until is not None:
        where.append(compliance_evidence.c.decided_at < until)
    query = select(compliance_evidence).where(and_(*where)).order_by(compliance_evidence.c.id).limit(limit)
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(query).mappings()]


def counts_since(engine: Engine, since: float) -> dict[str, dict[str, int]]:
    """Leads with a decision since `since`, by decision and gate: {"defer": {"calling_window": 3}, …}."""
    query = (
        select(
            compliance_evidence.c.decision,
            compliance_evidence.c.gate,
            func.count(func.distinct(compliance_evidence.c.lead_id)),
        )
        .where(compliance_evidence.c.decided_at >= since, compliance_evidence.c.gate != RETAIN_GATE)
        .group_by(compliance_evidence.c.decision, compliance_evidence.c.gate)
    )
    found: dict[str, dict[str, int]] = {}
    with engine.connect() as conn:
        for decision, gate, count in conn.execute(query):
            found.setdefault(decision, {})[gate] = int(count)
    return found


def latest_retain(engine: Engine) -> dict[str, Any] | None:
    """The most recent TrustedForm answer (any lead): the alert reads whether TrustedForm is answering."""
    query = (
        select(compliance_evidence.c.decision, compliance_evidence.c.detail, compliance_evidence.c.decided_at)
        .where(compliance_evidence.c.gate == RETAIN_GATE)
        .order_by(compliance_evidence.c.id.desc())
        .limit(1)
    )
    with engine.connect() as conn:
        row = conn.execute(query).one_or_none()
    if row is None:
        return None
    return {"verdict": row.decision, "detail": json.loads(row.detail or "{}"), "at": row.decided_at}


def release_waiting(conn: Connection, lead_id: int, now: float) -> int:
    """Put a lead waiting for its consent answer back in the queue now (the answer came); NOTIFY on PostgreSQL.

    Its clock (`clock_from`) stays where it was: the receipt, or the calling window's opening. A consent
    check is leadrelay's own latency (seconds; at most `consent.max_wait`, under `immediate_max_age`),
    so speed to first dial counts it, where a night's wait for the window is not the team's.
    """
    count = conn.execute(
        update(leads)
        .where(leads.c.id == lead_id, leads.c.status == S.DEFERRED, leads.c.status_reason == LeadReason.CONSENT_CHECK)
        .values(status=S.QUEUED, status_reason=None, next_attempt_at=now, updated_at=now)
    ).rowcount
    if count and conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})
    return int(count or 0)


def release_deferred(engine: Engine, now: float, everything: bool = False) -> int:
    """Deferred leads due by `now` (or all: a new leader re-checks them with its config) back to queued.

    Their dispatch clock starts at the opening they waited for (clock_from), so an IMMEDIATE lead that
    waited overnight is still IMMEDIATE in the morning and its retry budget is whole.
    """
    due = leads.c.status == S.DEFERRED
    if not everything:
        due = due & (leads.c.next_attempt_at <= now)
    opening = case((leads.c.next_attempt_at < now, leads.c.next_attempt_at), else_=now)
    with write(engine) as conn:
        count = conn.execute(
            update(leads)
            .where(due)
            .values(status=S.QUEUED, clock_from=opening, next_attempt_at=opening, updated_at=now)
        ).rowcount
    return int(count or 0)


def purge_evidence(engine: Engine, now: float) -> int:
    """Delete evidence past its keep_until, and load-log rows older than a day (the caps' window)."""
    with write(engine) as conn:
        gone = conn.execute(delete(compliance_evidence).where(compliance_evidence.c.keep_until < now)).rowcount
        conn.execute(delete(compliance_loads).where(compliance_loads.c.loaded_at < now - 2 * DAY))
    return int(gone or 0)


def _row(row: Any) -> dict[str, Any]:
    """An evidence row as JSON-ready data."""
    item = dict(row)
    item["phones"] = json.loads(item.get("phones") or "[]")
    item["detail"] = json.loads(item.get("detail") or "{}")
    return item
