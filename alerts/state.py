"""Alert state in the database: a locked row decides which process announces a change.

So a condition is sent once — not once per process — and repeated every `repeat_every` while it lasts.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from alerts.conditions import Condition, message
from store.db import write


def read_states(engine: Engine) -> dict[str, dict[str, Any]]:
    """Every alert row by key."""
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT key, kind, state, since, last_sent_at, created_at, details FROM alert_state"))
        return {r.key: {**dict(r._mapping), "details": json.loads(r.details or "{}")} for r in rows}


def ensure_rows(engine: Engine, keys: dict[str, str], now: float) -> None:
    """Create missing rows (e.g. the baseline of a source that never sent anything)."""
    with write(engine) as conn:
        for key, kind in keys.items():
            conn.execute(
                text(
                    "INSERT INTO alert_state (key, kind, state, created_at) VALUES (:k, :kind, 'ok', :now) "
                    "ON CONFLICT (key) DO NOTHING"
                ),
                {"k": key, "kind": kind, "now": now},
            )


def decide(condition: Condition | None, row: dict[str, Any] | None, now: float, repeat_every: float) -> str | None:
    """'firing' (new or repeat), 'resolved', or None (nothing to announce).

    `now` is the time of the snapshot the condition was judged on. A snapshot older than the row's
    last announcement predates that decision (another process judged fresher numbers), so it
    announces nothing: the row arbitrates, and a cached view cannot undo a newer verdict.
    """
    if row is not None and row["last_sent_at"] is not None and now < row["last_sent_at"]:
        return None
    firing = row is not None and row["state"] == "firing"
    if condition is not None and condition.active:
        if row is None or not firing:
            return "firing"
        if row["last_sent_at"] is None or now - row["last_sent_at"] >= repeat_every:
            return "firing"
        return None
    return "resolved" if firing else None


def transition(
    engine: Engine, condition: Condition | None, key: str, kind: str, now: float, repeat_every: float, webhook: bool
) -> str | None:
    """Announce a change if it is still due under the row lock; returns what was announced (or None)."""
    lock = " FOR UPDATE" if engine.dialect.name == "postgresql" else ""
    with write(engine) as conn:
        conn.execute(
            text(
                "INSERT INTO alert_state (key, kind, state, created_at) VALUES (:k, :kind, 'ok', :now) "
                "ON CONFLICT (key) DO NOTHING"
            ),
            {"k": key, "kind": kind, "now": now},
        )
        found = conn.execute(
            # {lock} is one of two literals above, never input.
            text(f"SELECT key, state, since, last_sent_at, details FROM alert_state WHERE key=:k{lock}"),  # noqa: S608
            {"k": key},
        ).one()  # the INSERT above guarantees the row
        row = dict(found._mapping)
        verdict = decide(condition, row, now, repeat_every)
        if verdict is None:
            return None
        details = condition.details if condition is not None else json.loads(row["details"] or "{}")
        since = row["since"] if row["state"] == "firing" and row["since"] else now
        text_ = message(kind, verdict, details, since, now)
        stored = {**details, "text": text_}
        if verdict == "firing":
            conn.execute(
                text("UPDATE alert_state SET state='firing', since=:since, last_sent_at=:now, details=:d WHERE key=:k"),
                {"since": since, "now": now, "d": json.dumps(stored, default=str), "k": key},
            )
        else:
            conn.execute(
                text("UPDATE alert_state SET state='ok', last_sent_at=:now, details=:d WHERE key=:k"),
                {"now": now, "d": json.dumps(stored, default=str), "k": key},
            )
        if webhook:
            payload = {
                "text": text_,
                "alert": kind,
                "state": verdict,
                "details": {**details, "key": key, "since": since, "at": now},
            }
            conn.execute(
                text(
                    "INSERT INTO alert_outbox (key, payload, created_at, next_try_at, attempts) "
                    "VALUES (:k, :p, :now, :now, 0)"
                ),
                {"k": key, "p": json.dumps(payload, default=str), "now": now},
            )
    return verdict


def apply(
    engine: Engine,
    conditions: list[Condition],
    states: dict[str, dict[str, Any]],
    repeat_every: float,
    webhook: bool,
    now: float | None = None,
) -> list[tuple[str, str]]:
    """Announce every due change; the cheap read decides which rows to lock at all."""
    now = now or time.time()
    by_key = {c.key: c for c in conditions}
    announced = []
    for key in sorted(set(by_key) | {k for k, s in states.items() if s["state"] == "firing"}):
        condition = by_key.get(key)
        if decide(condition, states.get(key), now, repeat_every) is None:
            continue
        kind = condition.kind if condition else states[key]["kind"]
        verdict = transition(engine, condition, key, kind, now, repeat_every, webhook)
        if verdict:
            announced.append((key, verdict))
    return announced
