"""NANP area code → candidate time zones and state: the table's builder and its reader.

The table (data/area_codes.json) is built from two independent maintained sources and kept as
data so a review can read it: libphonenumber's time-zone map (via the pinned `phonenumbers`
package), whose exchange-level prefixes (NPA-NXX) are unioned so an area code that spans zones
(850: Eastern and Central) lists them all, and the `zipcodes` package (US zip codes with their
IANA zone and the area codes serving them), for US area codes only. The union is deliberately
conservative: a zone either source names for an area code is a candidate. The state is
libphonenumber's geocoder name for the area code (the statutes presume an area code's state).
Rebuild after upgrading either package: `.venv/bin/python -m compliance.areacodes`; a test
checks the committed file against a fresh build.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data" / "area_codes.json"
CHECKED = "2026-12-08"

# The United States and its territories that are in the NANP (the TCPA applies in all of them).
US_REGIONS = frozenset({"US", "PR", "GU", "VI", "AS", "MP"})

# libphonenumber names the zone of American Samoa (684) "Etc/Unknown"; its IANA zone is fixed.
ZONE_FIXES = {"684": ["Pacific/Pago_Pago"]}

# The geocoder's area-code names → USPS codes (a few area codes carry a city, "Chicago, IL").
STATE_CODES = {
    "Alabama": "AL", "Alaska": "AK", "Arizona": "AZ", "Arkansas": "AR", "California": "CA",
    "Colorado": "CO", "Connecticut": "CT", "Delaware": "DE", "Florida": "FL", "Georgia": "GA",
    "Hawaii": "HI", "Idaho": "ID", "Illinois": "IL", "Indiana": "IN", "Iowa": "IA", "Kansas": "KS",
    "Kentucky": "KY", "Louisiana": "LA", "Maine": "ME", "Maryland": "MD", "Massachusetts": "MA",
    "Michigan": "MI", "Minnesota": "MN", "Mississippi": "MS", "Missouri": "MO", "Montana": "MT",
    "Nebraska": "NE", "Nevada": "NV", "New Hampshire": "NH", "New Jersey": "NJ", "New Mexico": "NM",
    "New York": "NY", "North Carolina": "NC", "North Dakota": "ND", "Ohio": "OH", "Oklahoma": "OK",
    "Oregon": "OR", "Pennsylvania": "PA", "Rhode Island": "RI", "South Carolina": "SC",
    "South Dakota": "SD", "Tennessee": "TN", "Texas": "TX", "Utah": "UT", "Vermont": "VT",
    "Virginia": "VA", "Washington D.C.": "DC", "Washington State": "WA", "West Virginia": "WV",
    "Wisconsin": "WI", "Wyoming": "WY",
}  # fmt: skip


@dataclass(frozen=True)
class AreaCode:
    """One geographic NANP area code: its country or territory, state and candidate zones."""

    region: str  # libphonenumber's region: US, PR, GU … or CA, JM … for other NANP countries
    state: str | None  # USPS code for the US and its territories
    zones: tuple[str, ...]


def _state_of(name: str | None, region: str) -> str | None:
    """A USPS code from the geocoder's name ("Florida", "Chicago, IL") or the territory's region."""
    if region in US_REGIONS - {"US"}:
        return region
    if not name:
        return None
    if name in STATE_CODES:
        return STATE_CODES[name]
    tail = name.rsplit(", ", 1)[-1]
    return tail if tail in STATE_CODES.values() else None


def build_table() -> dict[str, Any]:
    """Build the table from the installed phonenumbers and zipcodes data (the generator)."""
    import phonenumbers
    import zipcodes
    from phonenumbers.geodata import GEOCODE_DATA
    from phonenumbers.tzdata import TIMEZONE_DATA

    by_exchange: dict[str, set[str]] = defaultdict(set)
    for prefix, prefix_zones in TIMEZONE_DATA.items():
        if prefix.startswith("1") and len(prefix) >= 4:
            by_exchange[prefix[1:4]].update(z for z in prefix_zones if z != "Etc/Unknown")
    by_zip: dict[str, set[tuple[str, str]]] = defaultdict(set)  # area code → (zip's state, zip's zone)
    all_zips: Callable[[], list[dict[str, Any]]] = zipcodes.list_all  # untyped package
    for entry in all_zips():
        for npa in entry.get("area_codes") or []:
            if entry.get("timezone"):
                by_zip[npa].add((entry.get("state") or "", entry["timezone"]))
    codes: dict[str, dict[str, Any]] = {}
    for npa_int in range(200, 1000):
        npa = str(npa_int)
        number = phonenumbers.parse(f"+1{npa}2345678")
        region = phonenumbers.region_code_for_number(number)
        name = GEOCODE_DATA.get("1" + npa, {}).get("en")
        if region is None or (region == "US" and name is None):
            continue  # not geographic (toll-free, 5XX, 9XX …) or unassigned
        zones: set[str] = set(ZONE_FIXES.get(npa) or by_exchange.get(npa, set()))
        state = _state_of(name, region)
        if region in US_REGIONS:  # zipcodes is US data: never widen other countries
            # Only zips in the area code's own state: zipcodes lists for a zip the area codes around
            # it, across state lines too (Kenton, OK, zip 73946, lists Colorado's 303, 719 and 720),
            # and such a neighbour's zone once made every Denver lead wait for Central time's close.
            zones |= {zone for zip_state, zone in by_zip.get(npa, set()) if state is None or zip_state == state}
        if not zones:
            continue
        codes[npa] = {"region": region, "state": state, "zones": sorted(zones)}
    return {
        "checked": CHECKED,
        "sources": [
            f"libphonenumber time zones and geocoder via phonenumbers {phonenumbers.__version__} "
            "(exchange-level prefixes unioned per area code)",
            "zipcodes package (US zip → IANA zone and serving area codes), US area codes only, "
            "zips in the area code's own state only",
            "684 (American Samoa) fixed to Pacific/Pago_Pago: libphonenumber says Etc/Unknown",
        ],
        "area_codes": codes,
    }


@cache
def table() -> dict[str, AreaCode]:
    """The committed table, read once."""
    raw = json.loads(DATA.read_text(encoding="utf-8"))
    return {
        npa: AreaCode(region=entry["region"], state=entry["state"], zones=tuple(entry["zones"]))
        for npa, entry in raw["area_codes"].items()
    }


def lookup(npa: str) -> AreaCode | None:
    """The area code's entry, or None when it is not geographic (toll-free, 5XX …) or unknown."""
    return table().get(npa)


if __name__ == "__main__":  # pragma: no cover - the generator's command line
    DATA.write_text(json.dumps(build_table(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
