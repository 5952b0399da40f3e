"""Calling windows: whether a lead is loadable now and, if not, when its window next opens (UTC).

Pure and clock-injected: (place, now, settings) → WindowDecision. A lead is loadable only when,
in every candidate zone, the local time is inside every applicable rule's window (federal,
the candidate states' rules in force, the operator's hours) and at least `close_margin` before
the window closes, because a loaded lead may be dialed minutes later.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from zoneinfo import ZoneInfo

from compliance.places import Place
from compliance.rules import Rule, Span, holidays, rules

LOOKAHEAD_DAYS = 9  # a Sunday-and-holiday blackout still opens within this


@dataclass(frozen=True)
class WindowSettings:
    """The operator's side of the gate (config: calling_hours, close_margin, state_rules)."""

    enabled: bool = True
    hours: Mapping[str, Span] = field(default_factory=dict)  # "default" or a state → window
    close_margin: float = 30 * 60.0  # seconds
    turned_on: frozenset[str] = frozenset()  # vendor-only rule ids the operator turned on
    turned_off: frozenset[str] = frozenset()  # default-on rule ids turned off (not federal)


@dataclass(frozen=True)
class Limit:
    """One window applied to a lead: the rule's name and its span."""

    name: str
    span: Span
    no_sunday: bool = False
    no_holidays: bool = False


@dataclass(frozen=True)
class WindowDecision:
    """The gate's answer with what it was decided on (recorded as evidence)."""

    loadable: bool
    next_opening: float | None  # epoch seconds; None when loadable now, or no opening found
    rule: str  # the binding rule when refused, else every rule applied
    local_times: dict[str, str]  # zone → local time at `now`
    limits: tuple[str, ...] = ()

    def record(self) -> dict[str, object]:
        """The decision as JSON-ready data for the evidence table."""
        return {
            "loadable": self.loadable,
            "next_opening": self.next_opening,
            "rule": self.rule,
            "local_times": self.local_times,
            "limits": list(self.limits),
        }


@cache
def _zone(name: str) -> ZoneInfo:
    """A cached ZoneInfo."""
    return ZoneInfo(name)


def _law_applies(rule: Rule, place: Place, state: str | None, settings: WindowSettings) -> bool:
    """Whether a shipped rule is in force for one candidate under this configuration."""
    if rule.applies_to == "US":
        return place.us
    if rule.applies_to != state or rule.id in settings.turned_off:
        return False
    return rule.on or rule.id in settings.turned_on


def limits_for(place: Place, state: str | None, settings: WindowSettings) -> list[Limit]:
    """Every window for one candidate state: the law's, then the operator's hours for it."""
    found = [
        Limit(f"{r.describe()} — {r.source}", r.span, r.no_sunday, r.no_holidays)
        for r in rules()
        if _law_applies(r, place, state, settings)
    ]
    key = state if state is not None and state in settings.hours else "default"
    if key in settings.hours:
        found.append(Limit(f"calling_hours.{key} {settings.hours[key]}", settings.hours[key]))
    return found


Checks = list[tuple[str, list[Limit]]]  # (zone, the limits that apply there)


def _checks(place: Place, settings: WindowSettings) -> Checks:
    """Each candidate as a zone and its limits, in a stable order."""
    return [
        (zone, limits_for(place, state, settings))
        for zone, state in sorted(place.candidates, key=lambda pair: (pair[0], pair[1] or ""))
    ]


def _refusal(limit: Limit, local: dt.datetime, margin: float) -> bool:
    """Whether one limit refuses a load at this local time."""
    if limit.no_sunday and local.weekday() == 6:
        return True
    if limit.no_holidays and local.date() in holidays(local.year):
        return True
    minute = local.hour * 60 + local.minute + local.second / 60
    return not (limit.span.start <= minute < limit.span.end - margin / 60)


def _blocking(checks: Checks, at: float, margin: float) -> tuple[Limit, str] | None:
    """The first limit and zone that refuse a load at `at`, or None when every one allows it."""
    for zone, limits in checks:
        local = dt.datetime.fromtimestamp(at, _zone(zone))
        for limit in limits:
            if _refusal(limit, local, margin):
                return limit, zone
    return None


def _openings(checks: Checks, now: float) -> list[float]:
    """Candidate opening instants: each limit's start, each day ahead, in its zone."""
    found = set()
    for zone, limits in checks:
        today = dt.datetime.fromtimestamp(now, _zone(zone)).date()
        for offset in range(LOOKAHEAD_DAYS):
            day = today + dt.timedelta(days=offset)
            for limit in limits:
                start = dt.time(limit.span.start // 60, limit.span.start % 60)
                at = dt.datetime.combine(day, start, tzinfo=_zone(zone)).timestamp()
                if at > now:
                    found.add(at)
    return sorted(found)


def decide(place: Place, now: float, settings: WindowSettings) -> WindowDecision:
    """Whether a lead at this place may be loaded at `now`, and its next opening if not."""
    zones = sorted(place.zones)
    local_times = {z: dt.datetime.fromtimestamp(now, _zone(z)).strftime("%Y-%m-%d %H:%M %Z %a") for z in zones}
    if not settings.enabled:
        return WindowDecision(True, None, "calling windows off (calling_hours: off)", local_times)
    checks = [(zone, limits) for zone, limits in _checks(place, settings) if limits]
    names = tuple(dict.fromkeys(limit.name for _, limits in checks for limit in limits))
    if not checks:
        return WindowDecision(True, None, "no known time zone: no window applied", local_times, names)
    blocked = _blocking(checks, now, settings.close_margin)
    if blocked is None:
        return WindowDecision(True, None, "; ".join(names), local_times, names)
    limit, zone = blocked
    opening = next((at for at in _openings(checks, now) if _blocking(checks, at, settings.close_margin) is None), None)
    return WindowDecision(False, opening, f"{limit.name} in {zone}", local_times, names)
