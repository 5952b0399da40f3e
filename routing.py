"""Routes: the first route whose `when` holds chooses priority and campaign, or drops the lead."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from config import Route
from handlers.base import Record, resolve_path

_MISSING = object()


@dataclass
class Decision:
    """What routing decided for one record."""

    priority: str
    campaign: Any
    drop: bool
    route_index: int
    route_name: str | None = None


def choose(routes: list[Route], record: Record, lead: dict[str, Any] | None) -> Decision:
    """Return the first matching route's decision (config always appends a fallback route)."""
    for index, route in enumerate(routes):
        if all(_holds(_value(name, record, lead), cond) for name, cond in route.when.items()):
            return Decision(route.priority, route.campaign, route.drop, index, route.name)
    last = routes[-1]
    return Decision(last.priority, last.campaign, last.drop, len(routes) - 1, last.name)


def _value(name: str, record: Record, lead: dict[str, Any] | None) -> Any:
    """A field by the sender's name (dotted paths allowed) or `lead.<EngageField>`."""
    if name.startswith("lead.") and name not in record.fields:
        return resolve_path(lead or {}, name[5:], _MISSING)
    return resolve_path(record.fields, name, _MISSING)


def _number(value: Any) -> float | None:
    """Parse a number the way senders send them ("87", 87, "87.5"); None if not a number."""
    if isinstance(value, bool) or value is None or value is _MISSING:
        return None
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def _equal(left: Any, right: Any) -> bool:
    """Equality that treats "87" and 87 alike and compares strings case-sensitively."""
    if left is _MISSING:
        return False
    a, b = _number(left), _number(right)
    if a is not None and b is not None:
        return a == b
    if isinstance(left, bool) or isinstance(right, bool):
        return str(left).lower() == str(right).lower()
    return str(left) == str(right)


@lru_cache(maxsize=256)
def _regex(pattern: str) -> re.Pattern[str]:
    """Compile a `matches` pattern once."""
    return re.compile(pattern)


def _compare(value: Any, op: str, arg: Any) -> bool:
    """Apply one operator."""
    if op == "exists":
        present = value is not _MISSING and value is not None and value != ""
        return present == bool(arg)
    if op == "eq":
        return _equal(value, arg)
    if op == "ne":
        return not _equal(value, arg)
    if op == "in":
        return any(_equal(value, item) for item in arg)
    if op == "not_in":
        return not any(_equal(value, item) for item in arg)
    if op in ("gt", "gte", "lt", "lte"):
        a, b = _number(value), _number(arg)
        if a is None or b is None:
            return False
        return {"gt": a > b, "gte": a >= b, "lt": a < b, "lte": a <= b}[op]
    if value is _MISSING or value is None:
        return False
    if op == "matches":
        return _regex(str(arg)).search(str(value)) is not None
    if op == "contains":
        if isinstance(value, (list, tuple)):
            return any(_equal(item, arg) for item in value)
        return str(arg) in str(value)
    raise ValueError(f"unknown operator {op}")


def _holds(value: Any, cond: Any) -> bool:
    """A condition is a plain value (equals) or a dict of operators that must all hold."""
    if isinstance(cond, dict):
        return all(_compare(value, op, arg) for op, arg in cond.items())
    if isinstance(cond, list):
        return any(_equal(value, item) for item in cond)
    return _equal(value, cond)
