"""Routes: the first route whose `when` holds chooses priority and campaign, or drops the lead."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from config import Lifecycle, Route
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


@dataclass(frozen=True)
class Change:
    """What a source's lifecycle rules say about one record (more than one may hold)."""

    opt_out: bool = False  # the person asked not to be called: do-not-call list, own leads opted_out
    cancel: bool = False  # the record is gone or no longer wanted: its own pending leads cancelled
    erase: bool = False  # a privacy deletion: cancel, and erase the record's personal data
    rule: str = ""  # which rule matched first, e.g. "opt_out_when[0]" (for the timeline)


_RULES = (("opt_out", "opt_out_when"), ("erase", "erase_when"), ("cancel", "cancel_when"))


def lifecycle(rules: Lifecycle, record: Record) -> Change | None:
    """Evaluate a source's lifecycle rules on a record (before `events:`, mapping and routes)."""
    matched: dict[str, bool] = {}
    first = ""
    for attr, key in _RULES:
        for index, when in enumerate(getattr(rules, attr)):
            if holds_all(when, record):
                matched[attr] = True
                first = first or f"{key}[{index}]"
                break
    if not matched:
        return None
    return Change(
        opt_out=matched.get("opt_out", False),
        cancel=matched.get("cancel", False) or matched.get("erase", False),
        erase=matched.get("erase", False),
        rule=first,
    )


def choose(routes: list[Route], record: Record, lead: dict[str, Any] | None) -> Decision:
    """Return the first matching route's decision (config always appends a fallback route)."""
    for index, route in enumerate(routes):
        if holds_all(route.when, record, lead):
            return Decision(route.priority, route.campaign, route.drop, index, route.name)
    last = routes[-1]
    return Decision(last.priority, last.campaign, last.drop, len(routes) - 1, last.name)


@dataclass
class RouteCheck:
    """How one route judged a record: matched, or the first condition that did not hold and why."""

    position: int  # 1-based among the configured routes; 0: the source's fallback
    name: str | None
    matched: bool
    why: str  # a matched route: "" (or "no conditions"); otherwise the failing condition


def explain(routes: list[Route], record: Record, lead: dict[str, Any] | None) -> list[RouteCheck]:
    """Each route's verdict in order, up to and including the one that matched (for `./leadrelay try`)."""
    checks = []
    for index, route in enumerate(routes):
        position = 0 if index == len(routes) - 1 else index + 1
        failed = next(
            ((name, cond) for name, cond in route.when.items() if not _holds(_value(name, record, lead), cond)),
            None,
        )
        if failed is None:
            checks.append(RouteCheck(position, route.name, True, "" if route.when else "no conditions"))
            break
        name, cond = failed
        value = _value(name, record, lead)
        shown = "absent from this payload" if value is _MISSING else f"is {value!r}"
        checks.append(RouteCheck(position, route.name, False, f"{name} {shown}; the route wants {cond!r}"))
    return checks


def fields_of(routes: list[Route]) -> list[str]:
    """The record fields the routes' conditions read (sender names and `lead.<EngageField>`), in order."""
    return list(dict.fromkeys(name for route in routes for name in route.when))


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


# The FCC's per-se reasonable revocation words (FCC 24-24, 47 CFR 64.1200(a)(12)), compared
# with case, whitespace and surrounding punctuation ignored ("Stop.", "opt out", "OPTOUT").
STOP_WORDS = frozenset({"STOP", "QUIT", "END", "REVOKE", "OPTOUT", "CANCEL", "UNSUBSCRIBE"})
_NOT_WORD = re.compile(r"[\s.,;:!?'\"()\[\]-]+")


def is_stop_word(value: Any) -> bool:
    """Whether a value is one of the FCC's opt-out words (case, spaces and punctuation ignored)."""
    if value is _MISSING or value is None or isinstance(value, (dict, list, bool)):
        return False
    return _NOT_WORD.sub("", str(value)).upper() in STOP_WORDS


def _compare(value: Any, op: str, arg: Any) -> bool:
    """Apply one operator."""
    if op == "stop_word":
        return is_stop_word(value) == bool(arg)
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


def holds_all(when: dict[str, Any], record: Record, lead: dict[str, Any] | None = None) -> bool:
    """Whether every condition of one `when` mapping holds for the record."""
    return all(_holds(_value(name, record, lead), cond) for name, cond in when.items())


def _holds(value: Any, cond: Any) -> bool:
    """A condition is a plain value (equals) or a dict of operators that must all hold."""
    if isinstance(cond, dict):
        return all(_compare(value, op, arg) for op, arg in cond.items())
    if isinstance(cond, list):
        return any(_equal(value, item) for item in cond)
    return _equal(value, cond)
