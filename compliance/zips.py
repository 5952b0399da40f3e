"""US zip code → (state, IANA zone): a compact table generated from the pinned `zipcodes` package.

The package keeps its whole data set (every zip's county, coordinates, area codes …) in memory once
imported: about 150 MB per process, which a 512 MB dyno running two gunicorn workers cannot spare.
So the service reads `data/zips.json` (zip → "STATE|Zone", about 1 MB) and never imports the
package; `python -m compliance.zips` regenerates the file, and a test checks it still matches.
"""

from __future__ import annotations

import json
import threading
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "zips.json"

_lock = threading.Lock()
_index: dict[str, ZipPlace] | None = None
_state_zones: dict[str, frozenset[str]] = {}


@dataclass(frozen=True)
class ZipPlace:
    """Where a zip code is: its state (USPS code) and time zone."""

    state: str | None
    zone: str | None


def build_table() -> dict[str, Any]:
    """Zip → "STATE|Zone" from the installed zipcodes package (the generator; not run by the service)."""
    import zipcodes

    all_zips: Callable[[], list[dict[str, Any]]] = zipcodes.list_all  # untyped package
    valid = zoneinfo.available_timezones()  # the data has a few non-zones ("Napakiak"): drop them
    table = {
        entry["zip_code"]: f"{entry.get('state') or ''}|{entry['timezone'] if entry.get('timezone') in valid else ''}"
        for entry in all_zips()
    }
    return {"source": f"zipcodes {zipcodes.__version__} (list_all: zip_code, state, timezone)", "zips": table}


def _load() -> dict[str, ZipPlace]:
    """Read the committed table; equal places share one object (43 000 zips, a few hundred places)."""
    raw: dict[str, str] = json.loads(DATA.read_text(encoding="utf-8"))["zips"]
    places: dict[str, ZipPlace] = {}
    index = {}
    for zip_code, value in raw.items():
        place = places.get(value)
        if place is None:
            state, _, zone = value.partition("|")
            place = places[value] = ZipPlace(state or None, zone or None)
        index[zip_code] = place
    return index


def warm() -> None:
    """Build the index now (start-up), so the first lead does not pay for it."""
    global _index
    with _lock:
        if _index is None:
            index = _load()
            by_state: dict[str, set[str]] = {}
            for place in set(index.values()):
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


if __name__ == "__main__":  # pragma: no cover - the generator's command line
    DATA.write_text(json.dumps(build_table(), separators=(",", ":"), sort_keys=True) + "\n", encoding="utf-8")
