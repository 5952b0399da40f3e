"""The audit log: each Engage attempt and each operator replay/release, for a lead's timeline."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection, Engine

from logs import mask_text
from store.db import write
from store.schema import audit_log, login_attempts

_LOGIN_LOCK = 0x1EAD_0018  # pg_advisory_xact_lock key serializing console login counts


def record_attempts(conn: Connection, epoch: int, settlements: Iterable[Any]) -> None:
    """Add one `attempt` row per settlement inside the settle transaction (Engage's answer kept)."""
    now = time.time()
    rows = [
        {
            "at": now,
            "lead_id": s.id,
            "kind": "attempt",
            "actor": f"dispatcher:{epoch}",
            # Masked: an Engage error may quote a row, and this log outlives `leads forget`.
            "detail": json.dumps(
                {"status": s.status, "error": (s.error or None) and mask_text(s.error[:500]), "response": s.response},
                default=str,
            )[:8000],
        }
        for s in settlements
    ]
    if rows:
        conn.execute(audit_log.insert(), rows)


def record_action(
    engine: Engine, kind: str, actor: str, lead_ids: Iterable[int | None], detail: dict[str, Any]
) -> None:
    """Record an operator action (replay, release) once per lead it touched (None: the whole hold)."""
    now = time.time()
    rows = [
        {"at": now, "lead_id": lead_id, "kind": kind, "actor": actor[:200], "detail": json.dumps(detail, default=str)}
        for lead_id in lead_ids
    ]
    if rows:
        with write(engine) as conn:
            conn.execute(audit_log.insert(), rows)


def timeline(engine: Engine, lead_id: int, limit: int = 200) -> list[dict[str, Any]]:
    """A lead's audit rows, oldest first."""
    query = select(audit_log).where(audit_log.c.lead_id == lead_id).order_by(audit_log.c.id).limit(limit)
    with engine.connect() as conn:
        return [{**dict(r._mapping), "detail": json.loads(r.detail or "{}")} for r in conn.execute(query)]


def recent_actions(
    engine: Engine, kinds: tuple[str, ...] = ("replay", "release"), limit: int = 20
) -> list[dict[str, Any]]:
    """The latest operator actions, newest first."""
    query = select(audit_log).where(audit_log.c.kind.in_(kinds)).order_by(audit_log.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [{**dict(r._mapping), "detail": json.loads(r.detail or "{}")} for r in conn.execute(query)]


def _failures(conn: Connection, remote: str | None, since: float) -> int:
    """Failed console logins from `remote` (None: from anywhere) since `since`, all processes."""
    where = (login_attempts.c.at >= since) & login_attempts.c.ok.is_(False)
    if remote is not None:
        where = where & (login_attempts.c.remote == remote)
    return int(conn.execute(select(func.count()).select_from(login_attempts).where(where)).scalar() or 0)


def record_failed_login(engine: Engine, remote: str, within: float, max_here: int, max_all: int) -> bool:
    """Record a wrong token unless the limits are reached; True when recorded (401), False when refused (429).

    Count and insert run in one transaction serialized across processes (SQLite's BEGIN IMMEDIATE, a
    PostgreSQL advisory transaction lock), so parallel guesses cannot slip past the limit together, and
    a refusal writes nothing: a flood of wrong logins costs a bounded number of rows. Rows older than a
    day go.
    """
    now = time.time()
    with write(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOGIN_LOCK})
        if _failures(conn, remote[:64], now - within) >= max_here or _failures(conn, None, now - within) >= max_all:
            return False
        conn.execute(login_attempts.insert().values(remote=remote[:64], at=now, ok=False))
        conn.execute(login_attempts.delete().where(login_attempts.c.at < now - 86400))
    return True


def prune(engine: Engine, older_than: float) -> int:
    """Drop audit rows older than `older_than` (epoch seconds); returns how many."""
    with write(engine) as conn:
        return int(conn.execute(audit_log.delete().where(audit_log.c.at < older_than)).rowcount)
