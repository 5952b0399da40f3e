"""The dispatcher lease: one leader, fenced by an epoch, timed by the database clock."""

from __future__ import annotations

import enum
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from store.db import now_sql, write

NAME = "dispatcher"


class EngageState(enum.StrEnum):
    """Engage as the leader last saw it (`dispatcher_lease.engage_state`; not a lead's status)."""

    OK = "ok"
    DEGRADED = "degraded"  # a call failed; until one succeeds
    HELD = "held"  # credentials refused: every lead is held
    SANDBOX = "sandbox"  # the in-process fake Engage


@dataclass
class LeaseInfo:
    """A snapshot of the lease row, for /readyz and the CLI."""

    holder: str | None
    epoch: int
    expires_at: float
    heartbeat_at: float | None
    engage_state: str | None
    engage_detail: str | None
    now: float

    @property
    def active(self) -> bool:
        """Whether some dispatcher holds an unexpired lease."""
        return bool(self.holder) and self.expires_at > self.now


class Lease:
    """Acquire, renew and release the lease; every write is fenced by (holder, epoch)."""

    def __init__(self, engine: Engine, holder: str, ttl: float) -> None:
        """Prepare SQL for this dialect."""
        self.engine, self.holder, self.ttl = engine, holder, ttl
        self.epoch: int | None = None
        self._now = now_sql(engine)

    def acquire(self) -> int | None:
        """Take the lease if it is free, expired or already ours; return the new epoch, or None.

        "Already ours" lets a leader that lost its epoch locally (the database went away while it
        held the lease) take it straight back, with a new epoch, instead of waiting for it to expire.
        """
        with write(self.engine) as conn:
            row = conn.execute(
                text(
                    f"UPDATE dispatcher_lease SET holder=:h, epoch=epoch+1, expires_at={self._now}+:ttl, "
                    f"heartbeat_at={self._now} WHERE name=:n AND (holder IS NULL OR holder=:h OR expires_at < {self._now}) "
                    "RETURNING epoch"
                ),
                {"h": self.holder, "ttl": self.ttl, "n": NAME},
            ).first()
        self.epoch = int(row[0]) if row else None
        return self.epoch

    def renew(self) -> bool:
        """Extend the lease; False means another process took it (stop at once)."""
        if self.epoch is None:
            return False
        with write(self.engine) as conn:
            count = conn.execute(
                text(
                    f"UPDATE dispatcher_lease SET expires_at={self._now}+:ttl, heartbeat_at={self._now} "
                    "WHERE name=:n AND holder=:h AND epoch=:e"
                ),
                {"ttl": self.ttl, "n": NAME, "h": self.holder, "e": self.epoch},
            ).rowcount
        if not count:
            self.epoch = None
        return bool(count)

    def release(self) -> None:
        """Give the lease up so a standby starts at once (graceful shutdown)."""
        if self.epoch is None:
            return
        epoch, self.epoch = self.epoch, None  # nothing more is done under it, whatever the database says
        with write(self.engine) as conn:
            conn.execute(
                text("UPDATE dispatcher_lease SET holder=NULL, expires_at=0 WHERE name=:n AND holder=:h AND epoch=:e"),
                {"n": NAME, "h": self.holder, "e": epoch},
            )

    def set_engage_state(self, state: str, detail: str = "") -> None:
        """Publish Engage's state for web processes and /readyz (fenced)."""
        if self.epoch is None:
            return
        with write(self.engine) as conn:
            conn.execute(
                text("UPDATE dispatcher_lease SET engage_state=:s, engage_detail=:d WHERE name=:n AND epoch=:e"),
                {"s": state, "d": detail[:500], "n": NAME, "e": self.epoch},
            )


def read(engine: Engine) -> LeaseInfo:
    """Read the lease row and the database clock."""
    with engine.connect() as conn:
        row = conn.execute(
            text(
                f"SELECT holder, epoch, expires_at, heartbeat_at, engage_state, engage_detail, {now_sql(engine)} "
                "FROM dispatcher_lease WHERE name=:n"
            ),
            {"n": NAME},
        ).one()
    return LeaseInfo(*row)


class LeaseTokenStore:
    """Engage token kept in the lease row: a new leader reuses it (no exchange per takeover)."""

    def __init__(
        self,
        engine: Engine,
        lease: Lease,
        decode: Callable[[dict[str, Any]], Any],
        encode: Callable[[Any], dict[str, Any]],
    ) -> None:
        """`decode`/`encode` convert between the engage TokenState and a JSON-able dict."""
        self.engine, self.lease, self.decode, self.encode = engine, lease, decode, encode

    def load(self) -> Any:
        """Return the stored token state or None."""
        with self.engine.connect() as conn:
            raw = conn.execute(text("SELECT token FROM dispatcher_lease WHERE name=:n"), {"n": NAME}).scalar()
        return self.decode(json.loads(raw)) if raw else None

    def save(self, state: Any) -> None:
        """Store the token; only the current leader may (fenced by epoch)."""
        raw = json.dumps(self.encode(state)) if state is not None else None
        with write(self.engine) as conn:
            conn.execute(
                text("UPDATE dispatcher_lease SET token=:t WHERE name=:n AND epoch=:e"),
                {"t": raw, "n": NAME, "e": self.lease.epoch if self.lease.epoch is not None else -1},
            )
