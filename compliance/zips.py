"""US zip code → (state, IANA zone), from the pinned `zipcodes` package, indexed once."""

from __future__ import annotations

import threading
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_lock = threading.Lock()
_index: dict[str, ZipPlace] | None = None
_state_zones: dict[str, frozenset[str]] = {}


@dataclass(frozen=True)
class ZipPlace:
    """Where a zip code is: its state (USPS code) and time zone."""

    state: str | None
    zone: str | None


def _build() -> dict[str, ZipPlace]:
    """Index every zip code of the zipcodes package (about 43 000; ~0.5 s once)."""
    import zipcodes

    all_zips: Callable[[], list[dict[str, Any]]] = zipcodes.list_all  # untyped package
    valid = zoneinfo.available_timezones()  # the data has a few non-zones ("Napakiak"): drop them
    return {
        entry["zip_code"]: ZipPlace(
            entry.get("state") or None, entry["timezone"] if entry.get("timezone") in valid else None
        )
        for entry in all_zips()
    }


def warm() -> None:
    """Build the index now (start-up), so the first lead does not pay for it."""
    global _index
    with _lock:
        if _index is None:
            index = _build()
            by_state: dict[str, set[str]] = {}
            for place in index.values():
                if place.state and place.zone:
                    by_state.setdefault(place.state, set()).add(place.zone)
            _state_zones.update({state: frozenset(zones) for state, zones in by_state.items()})
            _index = index


def state_zones(state: str) -> frozenset[str]:
    """Every zone a state's zip codes are in (FL: Eastern and Central), empty when unknown."""
    warm()
    return _state_zones.get(state, frozenset())


def lookup(zip_code: str | None) -> ZipPlace | None:
    """The place of a US zip (ZIP+4 and spaces accepted), or None when unknown or not a zip."""
    if not zip_code:
        return None
    digits = zip_code.strip()[:5]
    if len(digits) != 5 or not digits.isdigit():
        return None
    warm()
    assert _index is not None
    return _index.get(digits)
