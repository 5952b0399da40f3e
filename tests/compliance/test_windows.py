"""Calling windows at their edges, with an injected clock: every instant is built in local time."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from compliance import areacodes, zips
from compliance.places import CONTIGUOUS_US, place_of
from compliance.rules import Span, legal_span, rules
from compliance.windows import WindowSettings, decide

NO_MARGIN = WindowSettings(close_margin=0)
DEFAULT = WindowSettings()  # close_margin 30 min
ET, CT, PT = ZoneInfo("America/New_York"), ZoneInfo("America/Chicago"), ZoneInfo("America/Los_Angeles")
MT = ZoneInfo("America/Denver")


def at(zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int) -> float:
    """Epoch seconds of a local wall time in a zone."""
    return dt.datetime(year, month, day, hour, minute, tzinfo=zone).timestamp()


def check(lead: dict, now: float, settings: WindowSettings = DEFAULT):
    """The window decision for a lead dict at `now`."""
    return decide(place_of(lead), now, settings)


# 2026-12-07 is a Monday in standard time.
@pytest.mark.parametrize(
    ("hour", "minute", "loadable"),
    [(7, 59, False), (8, 0, True), (20, 29, True), (20, 30, False), (20, 59, False), (21, 0, False)],
)
def test_federal_window_with_the_close_margin(hour, minute, loadable):
    decision = check({"leadPhone": "2125550100"}, at(ET, 2026, 12, 7, hour, minute))
    assert decision.loadable is loadable
    if not loadable:
        assert "federal 08:00-21:00" in decision.rule and "America/New_York" in decision.rule
        opening = dt.datetime.fromtimestamp(decision.next_opening, ET)
        assert (opening.hour, opening.minute) == (8, 0)
        assert opening.date() == dt.date(2026, 12, 7 if hour < 8 else 8)
    assert decision.local_times["America/New_York"].startswith(f"2026-12-07 {hour:02d}:{minute:02d} EST")


@pytest.mark.parametrize(("hour", "minute", "loadable"), [(7, 59, False), (8, 0, True), (19, 59, True), (20, 0, False)])
def test_florida_closes_at_eight_without_margin(hour, minute, loadable):
    decision = check({"leadPhone": "3055550100"}, at(ET, 2026, 12, 7, hour, minute), NO_MARGIN)
    assert decision.loadable is loadable
    if not loadable:
        assert decision.rule.startswith("FL 08:00-20:00") or decision.rule.startswith("federal")


def test_florida_margin_stops_loads_at_half_past_seven():
    assert check({"leadPhone": "3055550100"}, at(ET, 2026, 12, 7, 19, 29)).loadable
    refused = check({"leadPhone": "3055550100"}, at(ET, 2026, 12, 7, 19, 30))
    assert not refused.loadable and refused.rule.startswith("FL 08:00-20:00")
    assert refused.next_opening == at(ET, 2026, 12, 8, 8, 0)


def test_an_area_code_spanning_two_zones_waits_for_the_later_one():
    # 850 is Eastern (Tallahassee) and Central (Pensacola): 08:30 Eastern is 07:30 Central.
    lead = {"leadPhone": "8505550100"}
    refused = check(lead, at(ET, 2026, 12, 7, 8, 30))
    assert not refused.loadable and "America/Chicago" in refused.rule
    assert refused.next_opening == at(CT, 2026, 12, 7, 8, 0)
    assert set(refused.local_times) == {"America/Chicago", "America/New_York"}
    # ...and closes with the earlier one: FL 20:00 Eastern less 30 minutes.
    assert check(lead, at(ET, 2026, 12, 7, 19, 29)).loadable
    assert not check(lead, at(ET, 2026, 12, 7, 19, 30)).loadable


def test_phonenumbers_alone_would_say_one_zone_for_850():
    # Why the table unions exchange-level data and a second source: the library's one answer.
    import phonenumbers
    from phonenumbers import timezone

    assert timezone.time_zones_for_number(phonenumbers.parse("+18505550100")) == ("America/New_York",)
    entry = areacodes.lookup("850")
    assert entry is not None and set(entry.zones) == {"America/New_York", "America/Chicago"}


def test_a_neighbour_states_zip_does_not_add_its_zone_to_an_area_code():
    """Kenton, OK (73946, Central) lists Colorado's area codes; it once made 303 Central too, so a Denver lead
    was deferred from 19:30 Mountain. Zips count for their own state's area codes only; 850 keeps both."""
    zones = {npa: entry.zones for npa in ("303", "702", "850") if (entry := areacodes.lookup(npa)) is not None}
    assert zones["303"] == ("America/Denver",)
    assert zones["702"] == ("America/Los_Angeles",)  # Las Vegas: not Arizona's zone
    assert set(zones["850"]) == {"America/New_York", "America/Chicago"}
    denver = {"leadPhone": "3035550142", "state": "CO"}
    assert check(denver, at(MT, 2026, 12, 7, 20, 29)).loadable  # closes 20:30 with the margin, Mountain time
    assert not check(denver, at(MT, 2026, 12, 7, 20, 30)).loadable


def test_a_number_and_a_zip_in_different_zones():
    # A New York number with a Seattle zip: both must be inside; Washington's 8 pm rule applies too.
    lead = {"leadPhone": "2125550100", "zip": "98101-2345"}
    place = place_of(lead)
    assert {"America/New_York", "America/Los_Angeles"} <= place.zones and place.states == {"NY", "WA"}
    refused = check(lead, at(ET, 2026, 12, 7, 10, 0))  # 07:00 in Seattle
    assert not refused.loadable and "America/Los_Angeles" in refused.rule
    assert refused.next_opening == at(PT, 2026, 12, 7, 8, 0)
    assert check(lead, at(ET, 2026, 12, 7, 11, 0)).loadable
    assert check(lead, at(ET, 2026, 12, 7, 20, 29)).loadable  # 17:29 in Seattle, NY closes 20:30 with margin
    assert not check(lead, at(ET, 2026, 12, 7, 20, 30)).loadable


def test_a_state_field_adds_its_rules_and_zones():
    place = place_of({"leadPhone": "2125550100", "state": "fl"})
    assert place.states == {"NY", "FL"} and "America/Chicago" in place.zones
    assert not check({"leadPhone": "2125550100", "state": "FL"}, at(ET, 2026, 12, 7, 19, 45)).loadable


@pytest.mark.parametrize(
    ("hour", "minute", "loadable"), [(10, 59, False), (11, 0, True), (20, 59, True), (21, 0, False)]
)
def test_toll_free_uses_the_contiguous_us(hour, minute, loadable):
    decision = check({"leadPhone": "8005550100"}, at(ET, 2026, 12, 7, hour, minute), NO_MARGIN)
    assert decision.loadable is loadable
    assert set(decision.local_times) == set(CONTIGUOUS_US)
    if hour == 10:
        assert decision.next_opening == at(ET, 2026, 12, 7, 11, 0)


@pytest.mark.parametrize(
    ("phone", "zone", "state"),
    [("7875550100", "America/Puerto_Rico", "PR"), ("6715550100", "Pacific/Guam", "GU"),
     ("3405550100", "America/St_Thomas", "VI"), ("6845550100", "Pacific/Pago_Pago", "AS"),
     ("6705550100", "Pacific/Saipan", "MP")],
)  # fmt: skip
def test_territories_are_us_with_the_federal_window(phone, zone, state):
    place = place_of({"leadPhone": phone})
    assert place.us and place.zones == {zone} and place.states == {state}
    tz = ZoneInfo(zone)
    assert not check({"leadPhone": phone}, at(tz, 2026, 12, 7, 7, 59)).loadable
    assert check({"leadPhone": phone}, at(tz, 2026, 12, 7, 8, 0)).loadable


def test_spring_forward_opens_at_eight_daylight_time():
    # 2027-03-14: New York goes from EST to EDT at 02:00; 08:00 that morning is 12:00 UTC, not 13:00.
    night = dt.datetime(2027, 3, 14, 3, 0, tzinfo=dt.UTC).timestamp()  # 22:00 EST on the 13th
    refused = check({"leadPhone": "2125550100"}, night)
    assert refused.next_opening == dt.datetime(2027, 3, 14, 12, 0, tzinfo=dt.UTC).timestamp()


def test_fall_back_opens_at_eight_standard_time():
    # 2026-11-01: New York goes back to EST at 02:00; 08:00 that morning is 13:00 UTC.
    night = dt.datetime(2026, 11, 1, 5, 30, tzinfo=dt.UTC).timestamp()  # 01:30 EDT, the first one
    refused = check({"leadPhone": "2125550100"}, night)
    assert refused.next_opening == dt.datetime(2026, 11, 1, 13, 0, tzinfo=dt.UTC).timestamp()
    # The close that day: 21:00 EST = 02:00 UTC next day; the margin makes it 01:30.
    assert check({"leadPhone": "2125550100"}, dt.datetime(2026, 11, 2, 1, 29, tzinfo=dt.UTC).timestamp()).loadable
    assert not check({"leadPhone": "2125550100"}, dt.datetime(2026, 11, 2, 1, 30, tzinfo=dt.UTC).timestamp()).loadable


def test_operator_hours_narrow_the_law_and_a_state_key_replaces_default():
    hours = {"default": Span.parse("09:00-20:00"), "FL": Span.parse("10:00-19:00")}
    settings = WindowSettings(hours=hours, close_margin=0)
    assert not check({"leadPhone": "2125550100"}, at(ET, 2026, 12, 7, 8, 30), settings).loadable
    ny = check({"leadPhone": "2125550100"}, at(ET, 2026, 12, 7, 19, 59), settings)
    assert ny.loadable and "calling_hours.default 09:00-20:00" in ny.limits
    refused = check({"leadPhone": "3055550100"}, at(ET, 2026, 12, 7, 9, 30), settings)
    assert not refused.loadable and refused.rule.startswith("calling_hours.FL 10:00-19:00")
    assert refused.next_opening == at(ET, 2026, 12, 7, 10, 0)


def test_vendor_only_rules_ship_off_and_can_be_turned_on():
    kentucky = {"leadPhone": "2705550100"}  # Kentucky, Central and Eastern
    nine_central = at(CT, 2026, 12, 7, 9, 30)
    assert check(kentucky, nine_central).loadable
    on = WindowSettings(turned_on=frozenset({"KY"}))
    refused = check(kentucky, nine_central, on)
    assert not refused.loadable and refused.rule.startswith("KY 10:00-21:00")
    assert refused.next_opening == at(ET, 2026, 12, 7, 10, 0) + 3600  # 10:00 Central: both zones open


def test_sunday_and_holiday_rules_when_turned_on():
    alabama = {"leadPhone": "2055550100"}
    settings = WindowSettings(turned_on=frozenset({"AL"}))
    sunday = at(CT, 2026, 12, 6, 12, 0)
    assert check(alabama, sunday).loadable
    refused = check(alabama, sunday, settings)
    assert not refused.loadable and "no Sundays" in refused.rule
    assert refused.next_opening == at(CT, 2026, 12, 7, 8, 0)
    christmas = at(CT, 2026, 12, 25, 12, 0)  # a Friday
    assert check(alabama, christmas, settings).next_opening == at(CT, 2026, 12, 26, 8, 0)


def test_windows_off_loads_at_any_hour():
    decision = check({"leadPhone": "3055550100"}, at(ET, 2026, 12, 7, 23, 0), WindowSettings(enabled=False))
    assert decision.loadable and "off" in decision.rule


def test_a_number_without_a_known_zone_is_not_held():
    decision = check({"leadPhone": "+442079460000"}, at(ET, 2026, 12, 7, 3, 0))
    assert decision.loadable and not place_of({"leadPhone": "+442079460000"}).us


def test_the_law_table_carries_sources_and_defaults():
    by_id = {rule.id: rule for rule in rules()}
    assert {r for r, rule in by_id.items() if rule.on} == {"federal", "FL", "OK", "MD", "WA"}
    assert all(rule.source for rule in rules())
    assert not any(rule.confirmed for rule in rules() if not rule.on)
    assert legal_span("FL") == Span.parse("08:00-20:00") and legal_span("TX") == Span.parse("08:00-21:00")
    assert legal_span("KY") == Span.parse("08:00-21:00")
    assert legal_span("KY", frozenset({"KY"})) == Span.parse("10:00-21:00")


def test_area_code_table_is_what_its_sources_build():
    # The committed data is reproducible from the pinned packages (rebuild: python -m compliance.areacodes).
    committed = json.loads(areacodes.DATA.read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(areacodes.build_table()))
    codes = committed["area_codes"]
    assert {codes[n]["state"] for n in ("787", "671", "340", "684", "670")} == {"PR", "GU", "VI", "AS", "MP"}
    assert codes["416"]["state"] is None and codes["416"]["region"] == "CA"
    assert "800" not in codes and "500" not in codes
    assert {"America/Chicago", "America/New_York"} <= set(codes["270"]["zones"])  # Kentucky's west


def test_zip_table_is_what_the_pinned_package_builds():
    # The service reads data/zips.json and never imports zipcodes (its data costs ~150 MB a process);
    # the committed table is reproducible from the pinned package (rebuild: python -m compliance.zips).
    committed = json.loads(zips.DATA.read_text(encoding="utf-8"))
    assert committed == json.loads(json.dumps(zips.build_table()))
    assert zips.lookup("32501") == zips.ZipPlace("FL", "America/Chicago")  # Pensacola: Central, in Florida
    assert zips.lookup("33101-1234") == zips.ZipPlace("FL", "America/New_York")
    assert zips.state_zones("FL") == frozenset({"America/Chicago", "America/New_York"})


@pytest.mark.process  # a fresh interpreter
def test_looking_up_zips_does_not_import_the_zipcodes_package():
    # A fresh interpreter: the lookups' memory is the compact table, not the package's data set.
    import subprocess
    import sys

    code = (
        "import sys; from compliance import zips; zips.warm(); zips.lookup('32501'); print('zipcodes' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.stdout.strip() == "False"
