"""The durable outbox: jobs enqueued in the caller's transaction, claimed and settled under the lease epoch.

The lead queue's rules, for jobs to Engage and the CRMs.

A job is enqueued in the same transaction as what caused it (the opt-out, the attempt), so both
commit or neither does; its dedupe key makes enqueueing idempotent. Only the leader claims jobs
(`claim` checks the lease row), a claim sets `sending` under the leader's epoch, and a settle
writes only while that epoch still holds the lease, so a replaced leader can write nothing. A job
left `sending` by an older epoch (the process died mid-call) is claimed again with `unknown_fate`
set: Engage may have accepted it, and the runner looks it up before anything is resent.
"""

from __future__ import annotations

import enum
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, Engine

from logs import mask_text
from store.db import now_sql, write
from store.lease import NAME
from store.schema import audit_log

# Priorities (lower = sooner). A live opt-out goes before a CRM write-back, which goes before a bulk import.
PRIORITY_LIVE = 0
PRIORITY_WRITEBACK = 5
PRIORITY_BULK = 9


class JobState(enum.StrEnum):
    """States of a job (`jobs.state`): a vocabulary of its own, apart from the lead statuses."""

    PENDING = "pending"  # waiting for its next_attempt_at
    SENDING = "sending"  # claimed by the leader of claim_epoch until claimed_until
    DONE = "done"  # the far side accepted it (or a lookup found it there): never sent again
    FAILED = "failed"  # refused for good (a 4xx that no retry changes) or a poison job: for people


PENDING, SENDING, DONE, FAILED = JobState.PENDING, JobState.SENDING, JobState.DONE, JobState.FAILED
STATES = tuple(JobState)
# The states as bound parameters of the SQL below (state words are never spelled inside SQL text).
_STATE_PARAMS = {"st_pending": PENDING.value, "st_sending": SENDING.value, "st_done": DONE.value}

# Kinds reserved by the contract (other branches register handlers for the write-back kinds).
ENGAGE_DNC_ADD = "engage.dnc_add"
ENGAGE_LEAD_ACTION = "engage.lead_action"
WRITEBACK_HUBSPOT = "writeback.hubspot"
WRITEBACK_SALESFORCE = "writeback.salesforce"
WRITEBACK_WEBHOOK = "writeback.webhook"

# Longest dedupe key and kind stored (the columns' sizes).
KEY_LENGTH = 200
KIND_LENGTH = 50


@dataclass
class Job:
    """A job the leader now owns (state `sending` under its epoch)."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    priority: int
    attempts: int
    claims: int
    unknown_fate: bool
    created_at: float
    last_error: str | None = None


@dataclass
class JobSettlement:
    """What became of one claimed job: `state` pending (retry after `delay`), done or failed."""

    id: int
    state: str
    delay: float = 0.0
    error: str | None = None
    result: Any = None
    unknown_fate: bool = False  # pending with an unknown fate: look it up before resending
    count_attempt: bool = True  # an outage retry or a 429 burns no attempt
    crashed: bool = False  # the handler raised: this claim stays counted (a poison job)
    kind: str = ""  # for the timeline rows
    lead_ids: list[int] = field(default_factory=list)  # leads whose timeline shows this step


@dataclass
class JobRow:
    """One stored job, as people and tests read it."""

    id: int
    kind: str
    key: str
    payload: dict[str, Any]
    priority: int
    state: str
    attempts: int
    claims: int
    unknown_fate: bool
    next_attempt_at: float
    created_at: float
    updated_at: float
    done_at: float | None
    last_error: str | None
    result: Any = field(default=None)


def enqueue(
    conn: Connection,
    kind: str,
    key: str,
    payload: Mapping[str, Any],
    priority: int = PRIORITY_LIVE,
    now: float | None = None,
    delay: float = 0.0,
) -> int:
    """Add a job inside the caller's transaction; the same `key` again returns the existing job's id.

    `now` is the caller's time (the opt-out's receipt) and becomes `created_at`, from which the
    `opt_out_stuck` alert counts; the job is due at once unless `delay` (seconds) says otherwise.
    """
    if not kind or len(kind) > KIND_LENGTH:
        raise ValueError(f"job kind must be 1-{KIND_LENGTH} characters, got {kind!r}")
    if not key or len(key) > KEY_LENGTH:
        raise ValueError(f"job key must be 1-{KEY_LENGTH} characters (hash longer keys), got {len(key)}")
    at = time.time() if now is None else now
    row = conn.execute(
        text(
            "INSERT INTO jobs (kind, dedupe_key, payload, priority, state, attempts, claims, next_attempt_at, "
            "unknown_fate, created_at, updated_at) VALUES (:kind, :key, :payload, :priority, :state, 0, 0, "
            ":due, :false, :at, :at) ON CONFLICT (dedupe_key) DO NOTHING RETURNING id"
        ),
        {
            "kind": kind,
            "key": key,
            "payload": json.dumps(dict(payload), sort_keys=True, default=str),
            "priority": int(priority),
            "state": PENDING.value,
            # 0 = due at once by any clock (claims compare with the database clock, not the host's).
            "due": at + delay if delay > 0 else 0.0,
            "false": False,
            "at": at,
        },
    ).first()
    if row is not None:
        return int(row[0])
    return int(conn.execute(text("SELECT id FROM jobs WHERE dedupe_key=:key"), {"key": key}).scalar_one())


class Outbox:
    """Claim, settle and read jobs; SQL is plain Core text so it runs on SQLite and PostgreSQL alike."""

    def __init__(self, engine: Engine) -> None:
        """Prepare the dialect's clock."""
        self.engine = engine
        self._now = now_sql(engine)

    def claim(
        self,
        epoch: int,
        holder: str,
        kinds: Iterable[str],
        limit: int,
        claim_ttl: float,
        max_priority: int | None = None,
    ) -> list[Job]:
        """Claim up to `limit` due jobs of `kinds`, most urgent priority first, then oldest; only as leader.

        A job still `sending` under an older epoch, or past its claim, was in flight when its
        leader died: it comes back with `unknown_fate` set (it may have reached the far side).
        """
        wanted = list(kinds)
        if not wanted or limit <= 0:
            return []
        ceiling = "AND priority <= :ceiling" if max_priority is not None else ""
        sql = text(
            f"UPDATE jobs SET unknown_fate=CASE WHEN state=:st_sending THEN :true ELSE unknown_fate END, "  # noqa: S608
            f"state=:st_sending, claim_epoch=:epoch, claimed_until={self._now}+:ttl, claims=claims+1, "
            f"updated_at={self._now} "
            "WHERE id IN (SELECT id FROM jobs WHERE kind IN :kinds AND ("
            f"  (state=:st_pending AND next_attempt_at <= {self._now}) "
            f"   OR (state=:st_sending AND (claim_epoch < :epoch OR claimed_until < {self._now}))) "
            f"  {ceiling} ORDER BY priority, id LIMIT :limit) "
            "AND EXISTS (SELECT 1 FROM dispatcher_lease WHERE name=:name AND epoch=:epoch AND holder=:holder) "
            "RETURNING id, kind, dedupe_key, payload, priority, attempts, claims, unknown_fate, created_at, last_error"
        ).bindparams(bindparam("kinds", expanding=True))
        params: dict[str, Any] = {
            **_STATE_PARAMS,
            "true": True,
            "epoch": epoch,
            "ttl": claim_ttl,
            "kinds": wanted,
            "limit": limit,
            "name": NAME,
            "holder": holder,
        }
        if max_priority is not None:
            params["ceiling"] = max_priority
        with write(self.engine) as conn:
            rows = conn.execute(sql, params).fetchall()
        jobs = [
            Job(
                id=int(r.id),
                kind=r.kind,
                key=r.dedupe_key,
                payload=json.loads(r.payload or "{}"),
                priority=int(r.priority),
                attempts=int(r.attempts),
                claims=int(r.claims),
                unknown_fate=bool(r.unknown_fate),
                created_at=float(r.created_at),
                last_error=r.last_error,
            )
            for r in rows
        ]
        jobs.sort(key=lambda j: (j.priority, j.id))
        return jobs

    def due(self, kinds: Iterable[str], epoch: int) -> list[tuple[str, int, int]]:
        """Due jobs per (kind, priority): how many a claim would take now, for the runner's choice."""
        wanted = list(kinds)
        if not wanted:
            return []
        sql = text(
            "SELECT kind, priority, COUNT(*) FROM jobs WHERE kind IN :kinds AND ("  # noqa: S608
            f"(state=:st_pending AND next_attempt_at <= {self._now}) "
            f"OR (state=:st_sending AND (claim_epoch < :epoch OR claimed_until < {self._now}))) "
            "GROUP BY kind, priority"
        ).bindparams(bindparam("kinds", expanding=True))
        with self.engine.connect() as conn:
            rows = conn.execute(sql, {**_STATE_PARAMS, "kinds": wanted, "epoch": epoch}).fetchall()
        return [(str(r[0]), int(r[1]), int(r[2])) for r in rows]

    def next_due_in(self, kinds: Iterable[str]) -> float | None:
        """Seconds until the soonest pending job of `kinds` is due (0 when one is due now; None: none pending)."""
        wanted = list(kinds)
        if not wanted:
            return None
        sql = text(
            f"SELECT MIN(next_attempt_at) - {self._now} FROM jobs WHERE kind IN :kinds AND state=:st_pending"  # noqa: S608
        ).bindparams(bindparam("kinds", expanding=True))
        with self.engine.connect() as conn:
            value = conn.execute(sql, {**_STATE_PARAMS, "kinds": wanted}).scalar()
        return None if value is None else max(0.0, float(value))

    def settle(self, epoch: int, settlements: list[JobSettlement]) -> int:
        """Write outcomes of jobs still claimed under `epoch` (and only while it holds the lease); how many."""
        if not settlements:
            return 0
        sql = text(
            "UPDATE jobs SET state=:state, last_error=:error, "  # noqa: S608
            "result=CASE WHEN :has_result = 1 THEN :result ELSE result END, "
            "claims=CASE WHEN claims > 0 THEN claims - :settled ELSE 0 END, attempts=attempts+:inc, "
            f"unknown_fate=:unknown, next_attempt_at={self._now}+:delay, updated_at={self._now}, "
            f"done_at=CASE WHEN :finished = 1 THEN {self._now} ELSE done_at END, "
            "claim_epoch=NULL, claimed_until=NULL "
            "WHERE id=:id AND state=:st_sending AND claim_epoch=:epoch "
            "AND EXISTS (SELECT 1 FROM dispatcher_lease WHERE name=:name AND epoch=:epoch)"
        )
        params = []
        for s in settlements:
            if s.state not in (PENDING, DONE, FAILED):
                raise ValueError(f"a job settles pending, done or failed, not {s.state!r}")
            params.append(
                {
                    **_STATE_PARAMS,
                    "state": str(s.state),
                    "error": (s.error or None) and s.error[:2000],
                    "has_result": int(s.result is not None),
                    "result": None if s.result is None else json.dumps(s.result, default=str)[:20000],
                    "settled": 0 if s.crashed else 1,
                    "inc": 1 if s.count_attempt else 0,
                    "unknown": bool(s.unknown_fate and s.state == PENDING),
                    "delay": max(0.0, s.delay),
                    "finished": int(s.state in (DONE, FAILED)),
                    "id": s.id,
                    "epoch": epoch,
                    "name": NAME,
                }
            )
        with write(self.engine) as conn:
            count = conn.execute(sql, params).rowcount
            _timeline(conn, epoch, settlements)
        return count if count is not None and count >= 0 else len(params)

    def requeue(self, job_ids: Iterable[int]) -> int:
        """Put failed jobs back to pending, due now, attempts reset (an operator fixed the cause); how many."""
        ids = [int(i) for i in job_ids]
        if not ids:
            return 0
        sql = text(
            f"UPDATE jobs SET state=:st_pending, attempts=0, claims=0, next_attempt_at=0, updated_at={self._now}, "  # noqa: S608
            "done_at=NULL WHERE id IN :ids AND state=:st_failed"
        ).bindparams(bindparam("ids", expanding=True))
        with write(self.engine) as conn:
            count = conn.execute(sql, {**_STATE_PARAMS, "st_failed": FAILED.value, "ids": ids}).rowcount
        return int(count or 0)

    def get(self, job_id: int) -> JobRow | None:
        """One job by id (None when there is none)."""
        rows = self._select("WHERE id=:id", {"id": job_id})
        return rows[0] if rows else None

    def by_key(self, key: str) -> JobRow | None:
        """One job by its dedupe key (None when there is none)."""
        rows = self._select("WHERE dedupe_key=:key", {"key": key})
        return rows[0] if rows else None

    def rows(self, kind: str | None = None, state: str | None = None, limit: int = 1000) -> list[JobRow]:
        """Jobs, oldest first, optionally of one kind and/or state."""
        where, params = [], {"limit": limit}
        if kind is not None:
            where.append("kind=:kind")
            params["kind"] = kind  # type: ignore[assignment]
        if state is not None:
            where.append("state=:state")
            params["state"] = state  # type: ignore[assignment]
        clause = ("WHERE " + " AND ".join(where)) if where else ""
        return self._select(f"{clause} ORDER BY id LIMIT :limit", params)

    def counts(self) -> dict[str, int]:
        """How many jobs are in each state."""
        with self.engine.connect() as conn:
            rows = conn.execute(text("SELECT state, COUNT(*) FROM jobs GROUP BY state")).fetchall()
        found = {str(r[0]): int(r[1]) for r in rows}
        return {state: found.get(state, 0) for state in STATES}

    def _select(self, tail: str, params: Mapping[str, Any]) -> list[JobRow]:
        """Rows of jobs matching a fixed SQL tail with bound parameters."""
        sql = text(
            "SELECT id, kind, dedupe_key, payload, priority, state, attempts, claims, unknown_fate, "  # noqa: S608
            f"next_attempt_at, created_at, updated_at, done_at, last_error, result FROM jobs {tail}"
        )
        with self.engine.connect() as conn:
            rows = conn.execute(sql, dict(params)).fetchall()
        return [
            JobRow(
                id=int(r.id),
                kind=r.kind,
                key=r.dedupe_key,
                payload=json.loads(r.payload or "{}"),
                priority=int(r.priority),
                state=r.state,
                attempts=int(r.attempts),
                claims=int(r.claims),
                unknown_fate=bool(r.unknown_fate),
                next_attempt_at=float(r.next_attempt_at),
                created_at=float(r.created_at),
                updated_at=float(r.updated_at),
                done_at=None if r.done_at is None else float(r.done_at),
                last_error=r.last_error,
                result=None if r.result is None else json.loads(r.result),
            )
            for r in rows
        ]


def _timeline(conn: Connection, epoch: int, settlements: list[JobSettlement]) -> None:
    """One `job` row per lead on the lead's timeline for each settle that says something to people.

    Done, failed, and retries that counted an attempt; an outage's or a 429's waits are not steps.
    """
    now = time.time()
    rows = [
        {
            "at": now,
            "lead_id": lead_id,
            "kind": "job",
            "actor": f"dispatcher:{epoch}",
            "detail": json.dumps(
                {
                    "job": s.id,
                    "job_kind": s.kind,
                    "state": str(s.state),
                    "error": (s.error or None) and mask_text(s.error[:500]),
                    "unknown_fate": s.unknown_fate,
                },
                default=str,
            ),
        }
        for s in settlements
        if s.lead_ids and (s.state != PENDING or s.count_attempt)
        for lead_id in s.lead_ids
    ]
    if rows:
        conn.execute(audit_log.insert(), rows)


def unfinished_older_than(
    conn: Connection, kinds: Iterable[str], created_before: float
) -> list[tuple[int, str, float]]:
    """Jobs of `kinds` not done (pending or sending) created before a time: (id, kind, created_at), oldest first.

    The `opt_out_stuck` alert reads it; `failed` jobs count too (they will never be done by themselves).
    """
    wanted = list(kinds)
    if not wanted:
        return []
    sql = text(
        "SELECT id, kind, created_at FROM jobs WHERE kind IN :kinds AND state <> :st_done "
        "AND created_at < :before ORDER BY id LIMIT 100"
    ).bindparams(bindparam("kinds", expanding=True))
    params = {**_STATE_PARAMS, "kinds": wanted, "before": created_before}
    return [(int(r[0]), str(r[1]), float(r[2])) for r in conn.execute(sql, params)]
