"""Compliance gates before a load: calling windows, consent evidence, caps, do-not-call.

The pure parts (no database, no clock of their own: time is an argument):
- rules.py       the law as data (data/calling_rules.json): windows, caps, holidays; sources, dates
- areacodes.py   NANP area code → zones and state (data/area_codes.json, built from two sources)
- zips.py        US zip → state and zone (the zipcodes package)
- places.py      a lead → every candidate zone and state (numbers, zip, state)
- windows.py     (place, now, settings) → loadable now? next opening, rule and local time applied
"""
