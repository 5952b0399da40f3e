"""The do-not-call list: E.164 numbers with reason, source, who added them and when; every change logged.

A lead is on the list when ANY of its numbers is (`on_dnc`, `matching`): the compliance gate
(claim time) and the dispatcher's claim check call these. Entries survive privacy deletions and
retention purges; a removal needs a reason and is logged like an add. Functions taking a
Connection run inside the caller's transaction (an opt-out's leads, list entry and Engage jobs
commit together); the Engine ones are for the console, the API and the CLI.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.engine import Connection, Engine, RowMapping

from lead.phones import to_e164
from store.db import write
from store.schema import dnc, dnc_log

SOURCE_MAX = 100
ACTOR_MAX = 200
REASON_MAX = 500

_ADD = text(
    "INSERT INTO dnc (phone, reason, source, added_by, created_at) VALUES (:phone, :reason, :source, :added_by, :at) "
    "ON CONFLICT (phone) DO NOTHING RETURNING phone"
)


class BadNumber(ValueError):
    """A value that is not a phone number (the message says which)."""


def normalize(value: Any, region: str = "US") -> str:
    """One number in E.164, the list's only form; raise BadNumber naming the value otherwise."""
    e164 = to_e164(value, region)
    if e164 is None:
        raise BadNumber(f"{str(value)[:40]!r} is not a phone number")
    return e164


def lead_numbers(lead: Mapping[str, Any] | None, primary: str | None = None) -> list[str]:
    """Every number of a stored Engage lead in E.164 (leadPhone is `|`-separated, NANP as 10 digits)."""
    values: list[Any] = []
    if lead:
        values.extend(str(lead.get("leadPhone") or "").split("|"))
        values.append(lead.get("leadPhoneE164"))
    values.append(primary)
    found: list[str] = []
    for value in values:
        e164 = to_e164(value) if value else None
        if e164 and e164 not in found:
            found.append(e164)
    return found


def add(
    conn: Connection, phones: Iterable[str], *, reason: str | None, source: str, added_by: str, now: float
) -> list[str]:
    """Put E.164 numbers on the list (idempotent); return those that were not on it, each logged."""
    added: list[str] = []
    for phone in dict.fromkeys(phones):
        row = conn.execute(
            _ADD,
            {
                "phone": phone,
                "reason": (reason or None) and reason[:REASON_MAX],
                "source": source[:SOURCE_MAX],
                "added_by": added_by[:ACTOR_MAX],
                "at": now,
            },
        ).first()
        if row is not None:
            added.append(phone)
    _log(conn, "add", added, reason, source, added_by, now)
    return added


def remove(conn: Connection, phone: str, *, reason: str, actor: str, source: str, now: float) -> bool:
    """Take one number off the list with a reason (logged); False when it was not on it."""
    if not reason.strip():
        raise ValueError("a removal needs a reason")
    gone = conn.execute(delete(dnc).where(dnc.c.phone == phone)).rowcount
    if gone:
        _log(conn, "remove", [phone], reason, source, actor, now)
    return bool(gone)


def _log(
    conn: Connection, action: str, phones: list[str], reason: str | None, source: str, actor: str, now: float
) -> None:
    """One dnc_log row per number."""
    if phones:
        conn.execute(
            insert(dnc_log),
            [
                {
                    "at": now,
                    "action": action,
                    "phone": p,
                    "reason": (reason or None) and reason[:REASON_MAX],
                    "source": source[:SOURCE_MAX],
                    "actor": actor[:ACTOR_MAX],
                }
                for p in phones
            ],
        )


def matching(conn: Connection, phones: Iterable[str]) -> list[RowMapping]:
    """The list's entries for any of these E.164 numbers."""
    wanted = list(dict.fromkeys(p for p in phones if p))
    if not wanted:
        return []
    return list(conn.execute(select(dnc).where(dnc.c.phone.in_(wanted)).order_by(dnc.c.phone)).mappings())


def listed(conn: Connection, phones: Iterable[str]) -> set[str]:
    """Which of these E.164 numbers are on the list (the claim-time gate's lookup)."""
    wanted = list(dict.fromkeys(p for p in phones if p))
    if not wanted:
        return set()
    return {str(r[0]) for r in conn.execute(select(dnc.c.phone).where(dnc.c.phone.in_(wanted)))}


def on_dnc(conn: Connection, phones: Iterable[str]) -> bool:
    """Whether any of these E.164 numbers is on the list."""
    wanted = list(dict.fromkeys(p for p in phones if p))
    if not wanted:
        return False
    return conn.execute(select(dnc.c.phone).where(dnc.c.phone.in_(wanted)).limit(1)).first() is not None


def search(engine: Engine, query: str = "", limit: int = 100, offset: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """(total matching, one page newest first): `query` is digits anywhere in the number, or empty."""
    digits = "".join(ch for ch in query if ch.isdigit())
    where = dnc.c.phone.like(f"%{digits}%") if digits else None
    listing = select(dnc).order_by(dnc.c.created_at.desc(), dnc.c.phone).limit(limit).offset(offset)
    counting = select(func.count()).select_from(dnc)
    if where is not None:
        listing, counting = listing.where(where), counting.where(where)
    with engine.connect() as conn:
        total = int(conn.execute(counting).scalar() or 0)
        return total, [dict(r) for r in conn.execute(listing).mappings()]


def history(engine: Engine, phone: str, limit: int = 50) -> list[dict[str, Any]]:
    """A number's adds and removals, newest first."""
    query = select(dnc_log).where(dnc_log.c.phone == phone).order_by(dnc_log.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        return [dict(r) for r in conn.execute(query).mappings()]


def add_one(engine: Engine, phone: str, *, reason: str | None, source: str, added_by: str, now: float) -> bool:
    """Add one number in its own transaction (console, API, CLI); True when it was new."""
    with write(engine) as conn:
        return bool(add(conn, [phone], reason=reason, source=source, added_by=added_by, now=now))


def remove_one(engine: Engine, phone: str, *, reason: str, actor: str, source: str, now: float) -> bool:
    """Remove one number in its own transaction; True when it was on the list."""
    with write(engine) as conn:
        return remove(conn, phone, reason=reason, actor=actor, source=source, now=now)


@dataclass
class ImportResult:
    """What a CSV import did: counts, and the refused lines (line number, reason)."""

    added: list[str] = field(default_factory=list)
    already: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)
    rows: int = 0


PHONE_COLUMNS = ("phone", "number", "phone_number", "e164", "telephone", "mobile")
REASON_COLUMNS = ("reason", "note", "notes")


def read_csv(data: str, region: str = "US") -> tuple[list[tuple[str, str | None]], list[tuple[int, str]], int]:
    """Parse an import file: (numbers with their reason, refused lines, data rows).

    A header row naming a phone column (phone, number, e164, …) and optionally `reason` is
    used when present; otherwise the first column is the number.
    """
    rows = list(csv.reader(io.StringIO(data)))
    phone_at, reason_at, start = 0, None, 0
    if rows:
        header = [c.strip().lower() for c in rows[0]]
        named = [i for i, c in enumerate(header) if c in PHONE_COLUMNS]
        if named:
            phone_at, start = named[0], 1
            reason_at = next((i for i, c in enumerate(header) if c in REASON_COLUMNS), None)
        elif rows[0] and to_e164(rows[0][0], region) is None and not any(ch.isdigit() for ch in rows[0][0]):
            start = 1  # an unnamed header ("Mobile #")
    good: list[tuple[str, str | None]] = []
    bad: list[tuple[int, str]] = []
    count = 0
    for line, row in enumerate(rows[start:], start=start + 1):
        if not row or not "".join(row).strip():
            continue
        count += 1
        value = row[phone_at] if phone_at < len(row) else ""
        e164 = to_e164(value, region)
        if e164 is None:
            bad.append((line, "not a phone number"))
            continue
        reason = row[reason_at].strip() if reason_at is not None and reason_at < len(row) else None
        good.append((e164, reason or None))
    return good, bad, count


def import_numbers(
    conn: Connection,
    numbers: list[tuple[str, str | None]],
    *,
    default_reason: str,
    source: str,
    added_by: str,
    now: float,
) -> ImportResult:
    """Add parsed numbers in the caller's transaction; re-importing the same file adds nothing."""
    result = ImportResult()
    for phone, reason in numbers:
        new = add(conn, [phone], reason=reason or default_reason, source=source, added_by=added_by, now=now)
        if new:
            result.added.extend(new)
        else:
            result.already += 1
    return result


def count(engine: Engine) -> int:
    """How many numbers are on the list."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(dnc)).scalar() or 0)


def any_on(engine: Engine, phones: Iterable[str]) -> bool:
    """on_dnc with its own connection (read only)."""
    with engine.connect() as conn:
        return on_dnc(conn, phones)


__all__ = [
    "BadNumber",
    "ImportResult",
    "add",
    "add_one",
    "any_on",
    "count",
    "history",
    "import_numbers",
    "lead_numbers",
    "listed",
    "matching",
    "normalize",
    "on_dnc",
    "read_csv",
    "remove",
    "remove_one",
    "search",
]
