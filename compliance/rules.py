"""The law as data: calling-hour rules and per-state load caps, read from data/calling_rules.json."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "calling_rules.json"


@dataclass(frozen=True)
class Span:
    """A daily window in local minutes after midnight, end exclusive (08:00-21:00 = 480, 1260)."""

    start: int
    end: int

    @classmethod
    def parse(cls, text: str) -> Span:
        """Parse "HH:MM-HH:MM"; raise ValueError naming the expected form."""
        try:
            first, second = (part.strip() for part in text.split("-"))
            start, end = _minutes(first), _minutes(second)
        except ValueError:
            raise ValueError(f'"{text}" is not a window like "09:00-20:00"') from None
        if not 0 <= start < end <= 24 * 60:
            raise ValueError(f'"{text}" must start before it ends, within one day')
        return cls(start, end)

    def within(self, other: Span) -> bool:
        """Whether this window lies inside another (an operator's hours inside the law's)."""
        return other.start <= self.start and self.end <= other.end

    def __str__(self) -> str:
        return f"{self.start // 60:02d}:{self.start % 60:02d}-{self.end // 60:02d}:{self.end % 60:02d}"


def _minutes(text: str) -> int:
    """Minutes after midnight of "HH:MM" (24:00 allowed as the day's end)."""
    hours, _, minutes = text.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2):
        raise ValueError(text)
    value = int(hours) * 60 + int(minutes)
    if int(minutes) > 59 or value > 24 * 60:
        raise ValueError(text)
    return value


@dataclass(frozen=True)
class Rule:
    """One calling-hours rule: where it applies, its window, and where it comes from."""

    id: str
    applies_to: str  # "US" (federal: every lead) or a USPS state code
    span: Span
    no_sunday: bool
    no_holidays: bool
    on: bool  # applied unless turned on/off by compliance.state_rules
    confirmed: bool
    source: str

    def describe(self) -> str:
        """A one-line name for records: "FL 08:00-20:00 (Fla. Stat. …)"."""
        extra = (", no Sundays" if self.no_sunday else "") + (", no holidays" if self.no_holidays else "")
        return f"{self.id} {self.span}{extra}"


@dataclass(frozen=True)
class Cap:
    """A state's default cap on loads of one phone per rolling 24 h, and the law behind it."""

    state: str
    max_loads_per_24h: int
    law: str


@cache
def _raw() -> dict[str, object]:
    """The data file, parsed once."""
    loaded: dict[str, object] = json.loads(DATA.read_text(encoding="utf-8"))
    return loaded


@cache
def rules() -> tuple[Rule, ...]:
    """Every shipped rule, federal first."""
    entries = _raw()["rules"]
    assert isinstance(entries, list)
    return tuple(
        Rule(
            id=e["id"],
            applies_to=e["applies_to"],
            span=Span.parse(e["hours"]),
            no_sunday=bool(e.get("no_sunday", False)),
            no_holidays=bool(e.get("no_holidays", False)),
            on=bool(e["on"]),
            confirmed=bool(e["confirmed"]),
            source=e["source"],
        )
        for e in entries
    )


@cache
def caps() -> dict[str, Cap]:
    """Default per-state caps keyed by state."""
    entries = _raw()["caps"]
    assert isinstance(entries, list)
    return {e["state"]: Cap(e["state"], int(e["max_loads_per_24h"]), e["law"]) for e in entries}


def checked() -> str:
    """The date the rules were last checked against their sources."""
    return str(_raw()["checked"])


def rule_by_id() -> dict[str, Rule]:
    """Rules keyed by id (federal, FL, …)."""
    return {rule.id: rule for rule in rules()}


def legal_span(state: str | None, turned_on: frozenset[str] = frozenset()) -> Span:
    """The law's window for a state: federal intersected with its state rules in force."""
    start, end = 0, 24 * 60
    for rule in rules():
        if rule.applies_to == "US" or (rule.applies_to == state and (rule.on or rule.id in turned_on)):
            start, end = max(start, rule.span.start), min(end, rule.span.end)
    return Span(start, end)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """The n-th given weekday of a month (n = -1: the last)."""
    if n > 0:
        first = dt.date(year, month, 1)
        return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))
    last = dt.date(year + (month == 12), month % 12 + 1, 1) - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


@cache
def holidays(year: int) -> frozenset[dt.date]:
    """The fixed-rule US federal holidays of a year: the approximation the no_holidays rules use."""
    return frozenset(
        {
            dt.date(year, 1, 1),
            _nth_weekday(year, 5, 0, -1),  # Memorial Day: last Monday of May
            dt.date(year, 7, 4),
            _nth_weekday(year, 9, 0, 1),  # Labor Day: first Monday of September
            _nth_weekday(year, 11, 3, 4),  # Thanksgiving: fourth Thursday of November
            dt.date(year, 12, 25),
        }
    )
