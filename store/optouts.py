"""What an opt-out does: the do-not-call list changes with what they imply, in ONE transaction.

The console, the admin API, the CLI and intake's lifecycle rules all come here, so a number put
on the list by any channel has the same effects (docs/operations.md, "When someone asks not to
be called").
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy.engine import Engine

from store import dnc
from store.db import write


def add_numbers(
    engine: Engine,
    phones: list[str],
    *,
    reason: str | None,
    source: str,
    actor: str,
    bulk: bool,
    clock: Callable[[], float] = time.time,
) -> list[str]:
    """Put E.164 numbers on the list in one transaction; return those that were new."""
    now = clock()
    with write(engine) as conn:
        return dnc.add(conn, phones, reason=reason, source=source, added_by=actor, now=now)


def import_file(
    engine: Engine,
    data: str,
    *,
    region: str,
    reason: str,
    actor: str,
    clock: Callable[[], float] = time.time,
) -> dnc.ImportResult:
    """Import a CSV of numbers (idempotent): counts of rows, added, already listed and refused lines."""
    numbers, invalid, rows = dnc.read_csv(data, region)
    now = clock()
    with write(engine) as conn:
        result = dnc.import_numbers(conn, numbers, default_reason=reason, source="import", added_by=actor, now=now)
    result.invalid, result.rows = invalid, rows
    return result
