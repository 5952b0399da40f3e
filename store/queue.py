"""The lead queue: claim under the lease epoch, settle fenced, replay, list."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam, select, text
from sqlalchemy.engine import Connection, Engine

from lead.lifecycle import DISPATCHABLE, REQUEUED_BY_REPLAY, LeadReason, LeadStatus, sql_list
from store.audit import record_attempts
from store.db import now_sql, write
from store.lease import NAME
from store.schema import events, leads

if TYPE_CHECKING:  # store.ingest imports this module's neighbours; the type is only for annotations
    from store.ingest import PendingLead

# `noqa: S608` below: the only text put into SQL is our own (the dialect's clock, the lifecycle's
# status names); every value is a bound parameter.
S = LeadStatus
_DISPATCHABLE = sql_list(DISPATCHABLE)


@dataclass
class ClaimedLead:
    """A lead the dispatcher now owns (status `sending` under its epoch)."""

    id: int
    source: str
    extern_id: str
    priority: str
    campaign: str
    lead: dict[str, Any]
    load_options: dict[str, Any]
    attempts: int
    claims: int
    received_at: float
    primary_phone: str | None
    last_error: str | None = None  # for people (logs, the next settlement's text)
    unknown_fate: bool = False  # its last call may have landed: look it up before resending
    clock_from: float | None = None  # after a calling-window wait: its opening (set by the gates)

    @property
    def clock(self) -> float:
        """Where immediate_max_age and retry_budget count from: the window's opening, else receipt."""
        return self.clock_from if self.clock_from is not None else self.received_at


@dataclass
class Settlement:
    """The outcome of one send attempt for one lead."""

    id: int
    status: str  # a LeadStatus: delivered | rejected | retrying | held | dead | queued (a crashed send)
    error: str | None = None
    response: Any = None
    delay: float = 0.0  # seconds until the next attempt (retrying)
    count_attempt: bool = True  # held leads burn no attempts
    crashed: bool = False  # the send raised unexpectedly: this claim stays counted (poison lead)
    reason: str | None = None  # a LeadReason: why it waits or is held (status_reason)
    unknown_fate: bool = False  # the call may have landed: looked up before any resend

    def __post_init__(self) -> None:
        """Refuse a status or reason the lifecycle does not know (a typo would otherwise reach the database)."""
        self.status = LeadStatus(self.status)
        self.reason = None if self.reason is None else LeadReason(self.reason)


@dataclass(frozen=True)
class Arrivals:
    """Leads of one lane stored since a mark: how many, the newest id and the newest receipt time."""

    count: int
    last_id: int
    newest_received_at: float


class Queue:
    """Queue operations; SQL is plain Core so it runs on SQLite and PostgreSQL alike."""

    def __init__(self, engine: Engine) -> None:
        """Prepare dialect-specific SQL fragments."""
        self.engine = engine
        self._now = now_sql(engine)

    def claim(
        self,
        epoch: int,
        holder: str,
        priority: str,
        limit: int,
        claim_ttl: float,
        exclude_campaigns: Iterable[str] = (),
    ) -> list[ClaimedLead]:
        """Claim up to `limit` due leads of one lane, oldest first, only while we hold the lease."""
        excluded = list(exclude_campaigns)
        campaign_filter = "AND campaign NOT IN :excluded" if excluded else ""
        sql = text(
            f"UPDATE leads SET status='{S.SENDING}', claim_epoch=:epoch, claimed_until={self._now}+:ttl, "  # noqa: S608
            # A lead in flight waits for nothing (its reason goes); its unknown_fate stays until a lookup.
            f"status_reason=NULL, claims=claims+1, updated_at={self._now} "
            "WHERE id IN (SELECT id FROM leads WHERE priority=:priority AND ("
            f"  (status IN ({_DISPATCHABLE}) AND next_attempt_at <= {self._now}) "
            f"   OR (status='{S.SENDING}' AND (claim_epoch < :epoch OR claimed_until < {self._now}))) "
            f"  {campaign_filter} ORDER BY id LIMIT :limit) "
            "AND EXISTS (SELECT 1 FROM dispatcher_lease WHERE name=:name AND epoch=:epoch AND holder=:holder) "
            "RETURNING id, source, extern_id, priority, campaign, lead, load_options, attempts, claims, "
            "received_at, primary_phone, last_error, unknown_fate"
        )
        params = {
            "epoch": epoch,
            "ttl": claim_ttl,
            "priority": priority,
            "limit": limit,
            "name": NAME,
            "holder": holder,
        }
        if excluded:
            sql = sql.bindparams(bindparam("excluded", expanding=True))
            params["excluded"] = excluded
        with write(self.engine) as conn:
            rows = conn.execute(sql, params).fetchall()
        claimed = [
            ClaimedLead(
                id=r.id,
                source=r.source,
                extern_id=r.extern_id or "",
                priority=r.priority,
                campaign=r.campaign,
                lead=json.loads(r.lead or "{}"),
                load_options=json.loads(r.load_options or "{}"),
                attempts=r.attempts,
                claims=r.claims,
                received_at=r.received_at,
                primary_phone=r.primary_phone,
                last_error=r.last_error,
                unknown_fate=bool(r.unknown_fate),
            )
            for r in rows
        ]
        claimed.sort(key=lambda c: c.id)
        return claimed

    def due(self, priority: str, epoch: int, limit: int, now: float) -> tuple[int, float]:
        """How many leads of a lane a claim would take now (at most `limit`), and the oldest one's receipt."""
        with self.engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT COUNT(*), MIN(received_at) FROM (SELECT received_at FROM leads WHERE priority=:p "  # noqa: S608
                    f"AND ((status IN ({_DISPATCHABLE}) AND next_attempt_at <= :now) "
                    f"OR (status='{S.SENDING}' AND (claim_epoch < :epoch OR claimed_until < :now))) "
                    "ORDER BY id LIMIT :n) due"
                ),
                {"p": priority, "now": now, "epoch": epoch, "n": limit},
            ).one()
        return int(row[0]), float(row[1] or 0.0)

    def last_id(self) -> int:
        """The newest lead's id (0 when there is none): a mark to count arrivals from."""
        with self.engine.connect() as conn:
            return int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM leads")).scalar_one())

    def arrivals(self, priority: str, after: int) -> Arrivals | None:
        """Leads of a lane stored since id `after` (None when there are none); the ids index keeps it cheap."""
        with self.engine.connect() as conn:
            row = conn.execute(
                text("SELECT COUNT(*), MAX(id), MAX(received_at) FROM leads WHERE id > :mark AND priority = :p"),
                {"mark": after, "p": priority},
            ).one()
        if row[1] is None:
            return None
        return Arrivals(int(row[0]), int(row[1]), float(row[2]))

    def settle(self, epoch: int, settlements: list[Settlement]) -> int:
        """Write outcomes for leads still claimed under `epoch`; returns how many were written.

        A settled claim is taken back off `claims` (it ended properly: delivered, retrying after a 503,
        a timeout, a throttle…), so `claims` counts only claims that never settled — the process died
        holding them, or the send raised unexpectedly (`crashed`). Only those make a poison lead.
        """
        if not settlements:
            return 0
        sql = text(
            "UPDATE leads SET status=:status, last_error=:error, engage_response=:response, "  # noqa: S608
            "status_reason=:reason, unknown_fate=:unknown, "
            "claims=CASE WHEN claims > 0 THEN claims - :settled ELSE 0 END, "
            f"attempts=attempts+:inc, next_attempt_at={self._now}+:delay, updated_at={self._now}, "
            f"delivered_at=CASE WHEN :loaded = 1 THEN {self._now} ELSE delivered_at END, "
            "claim_epoch=NULL, claimed_until=NULL "
            f"WHERE id=:id AND status='{S.SENDING}' AND claim_epoch=:epoch "
            "AND EXISTS (SELECT 1 FROM dispatcher_lease WHERE name=:name AND epoch=:epoch)"
        )
        params = [
            {
                "status": s.status,
                "error": (s.error or None) and s.error[:2000],
                "response": None if s.response is None else json.dumps(s.response, default=str)[:20000],
                "inc": 1 if s.count_attempt else 0,
                "settled": 0 if s.crashed else 1,
                "delay": s.delay,
                "loaded": int(s.status == S.DELIVERED),
                "reason": s.reason,
                "unknown": bool(s.unknown_fate),
                "id": s.id,
                "epoch": epoch,
                "name": NAME,
            }
            for s in settlements
        ]
        with write(self.engine) as conn:
            count = conn.execute(sql, params).rowcount
            record_attempts(conn, epoch, settlements)  # the lead's timeline (issue 9)
        return count if count is not None and count >= 0 else len(params)

    def expedite(self, reason: LeadReason) -> int:
        """Make leads retrying for `reason` (an outage that just ended) due now."""
        with write(self.engine) as conn:
            return int(
                conn.execute(
                    text(
                        f"UPDATE leads SET next_attempt_at=0, updated_at={self._now} WHERE status='{S.RETRYING}' "  # noqa: S608
                        f"AND status_reason=:r AND next_attempt_at > {self._now}"
                    ),
                    {"r": LeadReason(reason)},
                ).rowcount
            )

    def release_held(self, campaign: str | None = None) -> int:
        """Put held leads back in the queue (a hold lifted); campaign None means every hold."""
        where = f"status='{S.HELD}'" + (" AND campaign=:c" if campaign is not None else "")
        with write(self.engine) as conn:
            return int(
                conn.execute(
                    text(
                        f"UPDATE leads SET status='{S.QUEUED}', status_reason=NULL, next_attempt_at=0, "  # noqa: S608
                        f"updated_at={self._now} WHERE {where}"
                    ),
                    {"c": campaign},
                ).rowcount
            )

    def hold_queued(self, campaign: str | None, error: str) -> int:
        """Park waiting leads of a held campaign (or, campaign None, the whole account) so they burn no attempts."""
        where = f"status IN ({_DISPATCHABLE})" + (" AND campaign=:c" if campaign is not None else "")
        reason = LeadReason.ACCOUNT_HOLD if campaign is None else LeadReason.CAMPAIGN_HOLD
        with write(self.engine) as conn:
            return int(
                conn.execute(
                    text(
                        f"UPDATE leads SET status='{S.HELD}', status_reason=:reason, last_error=:e, "  # noqa: S608
                        f"updated_at={self._now} WHERE {where}"
                    ),
                    {"c": campaign, "e": error, "reason": reason},
                ).rowcount
            )

    def replay(
        self,
        *,
        ids: Iterable[int] = (),
        status: str | None = None,
        source: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> list[int]:
        """Re-queue dead/rejected/held/blocked leads chosen by id, status, source and time; return their ids."""
        query = chosen_by(
            select(leads.c.id, leads.c.status).where(leads.c.status.in_(sorted(REQUEUED_BY_REPLAY))),
            ids=ids,
            source=source,
            since=since,
            until=until,
        )
        if status:
            query = query.where(leads.c.status == status)
        with write(self.engine) as conn:
            rows = conn.execute(query).fetchall()
            chosen = [r.id for r in rows]
            if chosen:
                conn.execute(
                    leads.update()
                    .where(leads.c.id.in_(chosen))
                    .values(
                        status=S.QUEUED,
                        next_attempt_at=0.0,
                        attempts=0,
                        claims=0,
                        last_error=None,
                        status_reason=None,
                        unknown_fate=False,
                    )
                )
        return chosen

    def counts(self) -> dict[str, int]:
        """Leads per status."""
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT status, COUNT(*) FROM leads GROUP BY status")).fetchall()
        return {r[0]: r[1] for r in rows}

    def list(
        self, *, status: str | None = None, source: str | None = None, limit: int = 50, before_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Recent leads, newest first, as dicts (for the CLI and the admin API)."""
        query = select(leads).order_by(leads.c.id.desc()).limit(limit)
        if status:
            query = query.where(leads.c.status == status)
        if source:
            query = query.where(leads.c.source == source)
        if before_id:
            query = query.where(leads.c.id < before_id)
        with self.engine.connect() as conn:
            return [lead_row(r._mapping) for r in conn.execute(query)]

    def get(self, lead_id: int) -> dict[str, Any] | None:
        """One lead with its event, as a dict."""
        with self.engine.connect() as conn:
            row = conn.execute(select(leads).where(leads.c.id == lead_id)).first()
        return lead_row(row._mapping) if row else None

    def event(self, event_id: int) -> dict[str, Any] | None:
        """One stored event, raw body included (decoded as UTF-8 where possible)."""
        with self.engine.connect() as conn:
            row = conn.execute(select(events).where(events.c.id == event_id)).first()
        if not row:
            return None
        data = dict(row._mapping)
        body = data.pop("body")
        data["body"] = body.decode("utf-8", "replace") if body is not None else None
        data["headers"] = json.loads(data["headers"] or "{}")
        return data


def chosen_by(
    query: Select[Any],
    *,
    ids: Iterable[int] = (),
    source: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> Select[Any]:
    """Narrow a leads query by the replay filters (ids, source, receive-time range)."""
    ids = list(ids)
    if ids:
        query = query.where(leads.c.id.in_(ids))
    if source:
        query = query.where(leads.c.source == source)
    if since is not None:
        query = query.where(leads.c.received_at >= since)
    if until is not None:
        query = query.where(leads.c.received_at <= until)
    return query


def lead_row(mapping: Mapping[Any, Any]) -> dict[str, Any]:
    """Turn a leads row into an API dict (JSON columns decoded)."""
    data = dict(mapping)
    for key in ("lead", "record", "errors", "warnings", "load_options", "engage_response"):
        if data.get(key):
            with contextlib.suppress(ValueError):  # not JSON after all: shown as stored
                data[key] = json.loads(data[key])
    return data


@dataclass
class FetchJob:
    """An id-only lead the fetch pool now owns."""

    id: int
    source: str
    record: dict[str, Any]
    fetch: dict[str, Any]
    attempts: int
    claims: int
    received_at: float


class FetchQueue:
    """Leads waiting for their record to be fetched from the sender's API (status `fetching`)."""

    def __init__(self, engine: Engine) -> None:
        """Prepare dialect-specific SQL fragments."""
        self.engine = engine
        self._now = now_sql(engine)

    def claim(self, epoch: int, holder: str, limit: int, claim_ttl: float) -> list[FetchJob]:
        """Claim due fetches under the lease epoch (a dead leader's claims are re-taken)."""
        sql = text(
            f"UPDATE leads SET claim_epoch=:epoch, claimed_until={self._now}+:ttl, claims=claims+1 "  # noqa: S608
            f"WHERE id IN (SELECT id FROM leads WHERE status='{S.FETCHING}' "
            f"  AND next_attempt_at <= {self._now} AND (claim_epoch IS NULL OR claim_epoch < :epoch "
            f"  OR claimed_until < {self._now}) ORDER BY id LIMIT :limit) "
            "AND EXISTS (SELECT 1 FROM dispatcher_lease WHERE name=:name AND epoch=:epoch AND holder=:holder) "
            "RETURNING id, source, record, fetch_spec, attempts, claims, received_at"
        )
        with write(self.engine) as conn:
            rows = conn.execute(
                sql, {"epoch": epoch, "ttl": claim_ttl, "limit": limit, "name": NAME, "holder": holder}
            ).fetchall()
        return sorted(
            (
                FetchJob(
                    r.id,
                    r.source,
                    json.loads(r.record or "{}"),
                    json.loads(r.fetch_spec or "{}"),
                    r.attempts,
                    r.claims,
                    r.received_at,
                )
                for r in rows
            ),
            key=lambda j: j.id,
        )

    def complete(self, epoch: int, job_id: int, item: PendingLead) -> LeadStatus | None:
        """Store the mapped lead (suppression judged now); returns the final status, None if fenced out."""
        with write(self.engine) as conn:
            owned = conn.execute(
                text(
                    f"SELECT 1 FROM leads WHERE id=:id AND status='{S.FETCHING}' AND claim_epoch=:epoch "  # noqa: S608
                    "AND EXISTS (SELECT 1 FROM dispatcher_lease WHERE name=:name AND epoch=:epoch)"
                ),
                {"id": job_id, "epoch": epoch, "name": NAME},
            ).first()
            if not owned:
                return None
            status = apply_prepared(conn, job_id, item)
            if item.effect is not None:
                # A lifecycle rule matched the fetched record: its effect (the list, other leads, the
                # Engage jobs) commits with the status, as at intake (store/ingest.py).
                from store import optouts

                row = conn.execute(select(leads.c.source, leads.c.event_id).where(leads.c.id == job_id)).one()
                optouts.apply(
                    conn, item.effect, source=row.source, event_id=row.event_id, lead_id=job_id, now=time.time()
                )
            if status == S.QUEUED and self.engine.dialect.name == "postgresql":
                from store.ingest import notify

                notify(conn, {item.priority})
        return status

    def fail(
        self, epoch: int, job_id: int, error: str, *, delay: float | None, dead: bool = False, crashed: bool = False
    ) -> None:
        """A failed fetch: retry after `delay`, or settle `invalid` (permanent) / `dead` (budget spent).

        As for sends, a settled fetch takes its claim back; only a crash leaves it counted.
        """
        if dead:
            status, errors = S.DEAD, None
        elif delay is None:
            status, errors = S.INVALID, json.dumps({"fetch": [error[:500]]})
        else:
            status, errors = S.FETCHING, None
        with write(self.engine) as conn:
            conn.execute(
                text(
                    f"UPDATE leads SET status=:status, errors=COALESCE(:errors, errors), last_error=:error, "  # noqa: S608
                    f"attempts=attempts+1, next_attempt_at={self._now}+:delay, claim_epoch=NULL, claimed_until=NULL, "
                    "claims=CASE WHEN claims > 0 THEN claims - :settled ELSE 0 END, "
                    f"updated_at={self._now} WHERE id=:id AND status='{S.FETCHING}' AND claim_epoch=:epoch"
                ),
                {
                    "status": status,
                    "errors": errors,
                    "error": error[:2000],
                    "delay": delay or 0.0,
                    "id": job_id,
                    "epoch": epoch,
                    "settled": 0 if crashed else 1,
                },
            )


def apply_prepared(conn: Connection, lead_id: int, item: PendingLead) -> LeadStatus:
    """Overwrite a lead row with a freshly mapped and routed record (fetch done, or a re-map)."""
    from store.ingest import recently_loaded

    status = LeadStatus(item.status)
    if status == S.QUEUED and item.suppress_within > 0 and recently_loaded(conn, item, time.time()):
        status = S.SUPPRESSED
    conn.execute(
        leads.update()
        .where(leads.c.id == lead_id)
        .values(
            status=status,
            priority=item.priority,
            campaign=None if item.campaign is None else str(item.campaign),
            extern_id=item.extern_id,
            lead=None if item.lead is None else json.dumps(item.lead),
            record=None if item.record is None else json.dumps(item.record, default=str),  # None: erased
            errors=None if item.errors is None else json.dumps(item.errors),
            warnings=json.dumps(item.warnings) if item.warnings else None,
            route_name=item.route_name,
            route_position=item.route_position,
            primary_phone=item.primary_phone,
            claim_epoch=None,
            claimed_until=None,
            next_attempt_at=0.0,
            attempts=0,
            claims=0,
            updated_at=time.time(),
            last_error=None,
            status_reason=None,
            unknown_fate=False,
        )
    )
    return status


def invalid_leads(
    engine: Engine,
    *,
    ids: Iterable[int] = (),
    source: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> list[dict[str, Any]]:
    """Invalid leads chosen by id, source and time range, with their stored records."""
    query = chosen_by(
        select(leads.c.id, leads.c.source, leads.c.record, leads.c.received_at, leads.c.fetch_spec).where(
            leads.c.status == S.INVALID
        ),
        ids=ids,
        source=source,
        since=since,
        until=until,
    )
    with engine.connect() as conn:
        return [
            {
                "id": r.id,
                "source": r.source,
                "record": json.loads(r.record or "{}"),
                "received_at": r.received_at,
                "fetch": json.loads(r.fetch_spec) if r.fetch_spec else None,
            }
            for r in conn.execute(query.order_by(leads.c.id))
        ]


def refetch(engine: Engine, lead_id: int) -> None:
    """Send an id-only lead whose fetch failed back to the fetch pool (after a token fix)."""
    with write(engine) as conn:
        conn.execute(
            leads.update()
            .where((leads.c.id == lead_id) & (leads.c.status == S.INVALID))
            .values(
                status=S.FETCHING,
                errors=None,
                last_error=None,
                attempts=0,
                claims=0,
                next_attempt_at=0.0,
                claim_epoch=None,
                claimed_until=None,
                updated_at=time.time(),
            )
        )


def remap(engine: Engine, lead_id: int, item: PendingLead) -> LeadStatus:
    """Store a re-mapped invalid lead; returns its new status."""
    with write(engine) as conn:
        return apply_prepared(conn, lead_id, item)
