"""Gravity Forms entries → Engage leads, with per-form maps."""

import json

import pytest

from handlers.base import Record, SourceSettings
from handlers.gravityforms import GravityFormsOptions, entry_key
from mappings import MappingError, map_record
from tests.builders import DATA as TEST_DATA

DATA = TEST_DATA / "gravityforms"
ENTRY = json.loads((DATA / "all_fields_json.json").read_text())
EXPECTED = json.loads((DATA / "all_fields_json.meta.json").read_text())["expected"]


def source(fields=None, forms=None, region="US"):
    """A Gravity Forms source; `forms` goes through the options schema as config would."""
    options = GravityFormsOptions().load({"forms": forms}) if forms else {}
    return SourceSettings(
        name="gf", type="gravityforms", tokens=["t"], options=options, fields=fields or {}, default_region=region
    )


def record(fields):
    """A parsed entry."""
    return Record(key=entry_key(fields), fields=fields, event="form_submission")


def test_fixture_known_answer():
    """The All Fields fixture with the default map (Name 1, Email 2, Phone 3, Address 4)."""
    lead = map_record(source(), record(ENTRY))
    assert lead["externId"] == EXPECTED["externId"]
    assert lead["leadPhone"].split("|") == EXPECTED["phones"]
    for key in ("firstName", "lastName", "email", "zip"):
        assert lead[key] == EXPECTED[key]
    assert (lead["address1"], lead["address2"], lead["city"], lead["state"]) == (
        "1600 Example St",
        "Suite 200",
        "Denver",
        "Colorado",
    )


# A second form built in another order: Phone 1, Name 2, Email 5, Address 6.
OTHER_FORM = {
    "id": "1301",
    "form_id": "7",
    "1": "+44 20 7946 0958",
    "2.3": "Siân",
    "2.6": "O'Brien",
    "5": "sian@example.co.uk",
    "6.5": "SW1A 1AA",
    "3": "Within a week",
    "4.5": "not a zip",
}
FORMS = {7: {"leadPhone": 1, "firstName": 2.3, "lastName": "2.6", "email": "5", "zip": "6.5"}}


def test_per_form_map_applies_to_its_form_only():
    """Form 7 uses its own input ids (YAML numbers accepted); form 3 keeps the defaults."""
    src = source(forms=FORMS)
    lead = map_record(src, record(OTHER_FORM))
    assert lead["leadPhone"] == "+442079460958" and lead["leadPhoneE164"] == "+442079460958"
    assert (lead["firstName"], lead["lastName"], lead["email"], lead["zip"]) == (
        "Siân",
        "O'Brien",
        "sian@example.co.uk",
        "SW1A 1AA",
    )
    assert map_record(src, record(ENTRY))["firstName"] == "Ada"


def test_without_per_form_map_the_defaults_misread():
    """Why per-form maps exist: form 7 with the defaults has no dialable phone in field 3."""
    with pytest.raises(MappingError) as info:
        map_record(source(), record(OTHER_FORM))
    assert list(info.value.errors) == ["leadPhone"]


def test_precedence_form_over_fields_over_defaults():
    """`forms:` wins over `fields:`, which wins over the defaults, key by key."""
    src = source(fields={"auxData1": "6", "firstName": "1.3"}, forms={3: {"firstName": "1.6"}})
    lead = map_record(src, record(ENTRY))
    assert lead["firstName"] == "Example" and lead["auxData1"] == "Hot" and lead["lastName"] == "Example"


def test_per_form_null_unmaps_a_default():
    """A per-form `null` removes a default that would misread that form."""
    entry = {"id": "5", "form_id": "7", "1": "3035550142", "4.5": "not a zip"}
    assert "zip" not in map_record(source(forms={7: {"leadPhone": "1", "zip": None}}), record(entry))


def test_select_fields_common_keys():
    """Select Fields bodies with common keys work without any map."""
    entry = {
        "entry_id": "88",
        "form_id": "2",
        "first_name": "Ana",
        "last_name": "López",
        "email": "ANA@X.COM",
        "phone": "303-555-0142 ext 22",
        "zip": "02134",
    }
    lead = map_record(source(), record(entry))
    assert lead["externId"] == "88" and lead["leadPhone"] == "3035550142"
    assert lead["extendedLeadData"]["phoneExtension"] == "22" and lead["zip"] == "02134"
    assert lead["email"] == "ana@x.com"


def test_full_name_split_when_no_name_inputs():
    """A single-line Name field (`name` in Select Fields) is split."""
    lead = map_record(source(), record({"id": "9", "name": "Mary Ann Smith", "phone": "3035550142"}))
    assert (lead["firstName"], lead["lastName"]) == ("Mary", "Ann Smith")


def test_empty_inputs_and_unknown_keys():
    """Empty input values are skipped; payment and meta keys never break the mapping."""
    entry = dict(ENTRY, **{"1.3": "", "1.6": "", "payment_amount": None, "99": {"odd": [1]}})
    lead = map_record(source(), record(entry))
    assert "firstName" not in lead and "lastName" not in lead and lead["leadPhone"] == "3035550142"


def test_form_id_number_matches():
    """A JSON number form id selects its per-form map too."""
    entry = dict(OTHER_FORM, form_id=7)
    assert map_record(source(forms=FORMS), record(entry))["firstName"] == "Siân"
