"""Where a lead may be: every candidate time zone and state of its numbers, zip and state.

A lead is callable only when every candidate is inside its window, so each source adds
candidates and none replaces another. A candidate is a (zone, state) pair, because a state's
rule applies in that state's local time: a Florida 850 number (Eastern and Central) with a
Seattle zip is checked against FL's 8 pm in Eastern and Central time (Florida presumes its area
codes are residents) and against WA's 8 pm in Pacific time; the federal window applies to all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from phonenumbers import timezone as pn_timezone

from compliance import areacodes, zips

# Toll-free and other non-geographic US numbers: the contiguous US (callable 11:00-21:00 Eastern).
CONTIGUOUS_US = ("America/New_York", "America/Chicago", "America/Denver", "America/Phoenix", "America/Los_Angeles")
US_STATES = frozenset(areacodes.STATE_CODES.values()) | areacodes.US_REGIONS - {"US"}


@dataclass(frozen=True)
class Place:
    """Candidate zones and states of a lead, and why each is there (for the evidence record)."""

    candidates: frozenset[tuple[str, str | None]]  # (IANA zone, USPS state or None)
    us: bool  # any candidate is the US or a territory: the TCPA's federal window applies
    basis: tuple[str, ...] = field(default=())  # "850: FL America/Chicago America/New_York", …
    phones_e164: tuple[str, ...] = field(default=())

    @property
    def zones(self) -> frozenset[str]:
        """Every candidate zone."""
        return frozenset(zone for zone, _ in self.candidates)

    @property
    def states(self) -> frozenset[str]:
        """Every candidate state."""
        return frozenset(state for _, state in self.candidates if state)


def _e164(number: str) -> str | None:
    """A lead number (10 NANP digits or E.164) as E.164, or None."""
    text = number.strip()
    if not text:
        return None
    if not text.startswith("+"):
        text = "+1" + text if len(text) == 10 else "+" + text
    try:
        parsed = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def lead_phones(lead: Mapping[str, Any]) -> list[str]:
    """Every number of an Engage lead (`leadPhone` joined by |, plus `leadPhoneE164`) as E.164."""
    raw = [str(lead.get("leadPhone") or ""), str(lead.get("leadPhoneE164") or "")]
    found: list[str] = []
    for part in "|".join(raw).split("|"):
        e164 = _e164(part)
        if e164 and e164 not in found:
            found.append(e164)
    return found


def place_of(lead: Mapping[str, Any]) -> Place:
    """The candidate zones and states of a lead from its numbers, zip and state."""
    pairs: set[tuple[str, str | None]] = set()
    basis: list[str] = []
    us = False
    phones = lead_phones(lead)
    for e164 in phones:
        if e164.startswith("+1") and len(e164) == 12:
            entry = areacodes.lookup(e164[2:5])
            if entry is None:  # toll-free, 5XX, 9XX …: no place, so the whole contiguous US
                pairs.update((zone, None) for zone in CONTIGUOUS_US)
                us = True
                basis.append(f"{e164[2:5]}: non-geographic US, contiguous US zones")
                continue
            pairs.update((zone, entry.state) for zone in entry.zones)
            us = us or entry.region in areacodes.US_REGIONS
            basis.append(f"{e164[2:5]}: {entry.state or entry.region} {' '.join(entry.zones)}")
        else:
            number = phonenumbers.parse(e164, None)
            found = [z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown"]
            pairs.update((zone, None) for zone in found)
            basis.append(f"+{number.country_code}: {' '.join(found) or 'zone unknown'}")
    zip_place = zips.lookup(str(lead.get("zip") or ""))
    if zip_place is not None:
        us = True
        zip_zones = [zip_place.zone] if zip_place.zone else sorted(zips.state_zones(zip_place.state or ""))
        pairs.update((zone, zip_place.state) for zone in zip_zones)
        basis.append(f"zip {str(lead.get('zip')).strip()[:5]}: {zip_place.state} {zip_place.zone}")
    state = str(lead.get("state") or "").strip().upper()
    if state in US_STATES and not (zip_place is not None and zip_place.state == state):
        us = True
        state_zones = zips.state_zones(state)
        pairs.update((zone, state) for zone in state_zones)
        basis.append(f"state {state}: {' '.join(sorted(state_zones))}")
    return Place(frozenset(pairs), us, tuple(basis), tuple(phones))
