"""Console sessions kept in the database: created at login, checked on every request, revoked at once."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from store.db import write
from store.schema import admin_sessions


def _hash(session_id: str) -> str:
    """The stored key: a copy of the table (a backup, a replica) opens no session."""
    return hashlib.sha256(session_id.encode()).hexdigest()


def create(engine: Engine, session_id: str, remote: str, now: float, lifetime: float) -> None:
    """Record a new session; sessions past their expiry (or revoked a day ago) are removed meanwhile."""
    with write(engine) as conn:
        conn.execute(
            admin_sessions.delete().where(
                (admin_sessions.c.expires_at < now) | (admin_sessions.c.revoked_at < now - 86400)
            )
        )
        conn.execute(
            admin_sessions.insert().values(
                id_hash=_hash(session_id),
                created_at=now,
                expires_at=now + lifetime,
                revoked_at=None,
                remote=remote[:64],
            )
        )


def active(engine: Engine, session_id: str, now: float) -> bool:
    """Whether the session exists, is not revoked and has not expired (every process sees the same)."""
    query = select(func.count()).where(
        (admin_sessions.c.id_hash == _hash(session_id))
        & admin_sessions.c.revoked_at.is_(None)
        & (admin_sessions.c.expires_at > now)
    )
    with engine.connect() as conn:
        return bool(conn.execute(query).scalar())


def revoke(engine: Engine, session_id: str, now: float) -> int:
    """End one session (logout); the number of sessions ended (0 or 1)."""
    with write(engine) as conn:
        result = conn.execute(
            admin_sessions.update()
            .where((admin_sessions.c.id_hash == _hash(session_id)) & admin_sessions.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
    return int(result.rowcount or 0)


def revoke_all(engine: Engine, now: float) -> int:
    """End every live session (`admin sessions revoke`); how many were live."""
    with write(engine) as conn:
        result = conn.execute(
            admin_sessions.update()
            .where(admin_sessions.c.revoked_at.is_(None) & (admin_sessions.c.expires_at > now))
            .values(revoked_at=now)
        )
    return int(result.rowcount or 0)
