"""Meta Lead Ads records (after the Graph fetch) → Engage leads."""

import json

import pytest

from handlers.base import Record, SourceSettings
from handlers.facebook import lead_fields
from mappings import MappingError, default_fields, map_record
from tests.builders import DATA as TEST_DATA

DATA = TEST_DATA / "facebook_leadads"
GRAPH = json.loads((DATA / "lead_graph_response_1234567890123456.json").read_text())
EXPECTED = json.loads((DATA / "lead_graph_response_1234567890123456.meta.json").read_text())["expected"]


def source(fields=None, region="US", **kw):
    """A facebook source with optional `fields:` overrides."""
    return SourceSettings(
        name="meta",
        type="facebook",
        options={"page_access_token": "t"},
        fields=fields or {},
        default_region=region,
        **kw,
    )


def fetched(answers, **ids):
    """A fetched record: webhook ids plus Graph answers (built as the handler does)."""
    lead = {
        "id": ids.get("leadgen_id", "555"),
        "field_data": [{"name": k, "values": v if isinstance(v, list) else [v]} for k, v in answers.items()],
    }
    fields = {"leadgen_id": "555", "page_id": "111", **ids, **lead_fields(lead)}
    return Record(key=fields["leadgen_id"], fields=fields, event="leadgen")


def test_fixture_lead_known_answer():
    """The Graph fixture maps to the fixture's expected lead (full name split, E.164 → 10 digits)."""
    record = Record(key="1234567890123456", fields={"leadgen_id": GRAPH["id"], **lead_fields(GRAPH)})
    lead = map_record(source(), record)
    assert lead["externId"] == EXPECTED["externId"]
    assert lead["leadPhone"].split("|") == EXPECTED["phones"]
    for key in ("firstName", "lastName", "email", "zip"):
        assert lead[key] == EXPECTED[key]
    assert "leadPhoneE164" not in lead


def test_default_map_documented():
    """The default map covers Meta's standard question names."""
    assert default_fields("facebook")["fullName"] == "full_name"
    assert default_fields("facebook")["zip"] == ["zip_code", "post_code"]


def test_first_last_win_over_full_name_and_address_fields():
    """first_name/last_name are used as they are; street, city, state, post_code mapped."""
    lead = map_record(
        source(),
        fetched(
            {
                "full_name": "Ignored Name",
                "first_name": "Zoë",
                "last_name": "Ångström",
                "email": "  ZOE@Example.COM ",
                "phone_number": "+13035550142",
                "street_address": "1 Main St",
                "city": "Denver",
                "state": "CO",
                "post_code": "80202-1234",
            }
        ),
    )
    assert (lead["firstName"], lead["lastName"], lead["email"]) == ("Zoë", "Ångström", "zoe@example.com")
    assert (lead["address1"], lead["city"], lead["state"], lead["zip"]) == ("1 Main St", "Denver", "CO", "80202-1234")


def test_international_phone_gets_e164():
    """A UK lead: leadPhone and leadPhoneE164 in E.164."""
    lead = map_record(source(), fetched({"full_name": "山田 太郎", "phone_number": "+44 7911 123456"}))
    assert lead["leadPhone"] == "+447911123456" and lead["leadPhoneE164"] == "+447911123456"
    assert (lead["firstName"], lead["lastName"]) == ("山田", "太郎")


def test_national_number_uses_default_region():
    """A number typed without a country code is read in the source's region."""
    lead = map_record(source(region="GB"), fetched({"phone_number": "07911 123456"}))
    assert lead["leadPhone"] == "+447911123456"


def test_custom_question_by_fields_override():
    """A custom question (slugified name) mapped with `fields:`; several numbers primary first."""
    record = fetched(
        {
            "phone_number": "+13035550142",
            "best_number_to_reach_you?": "720-555-0117 x12",
            "monthly_budget": "$2,000_–_$5,000",
        }
    )
    lead = map_record(
        source({"leadPhone": ["best_number_to_reach_you?", "phone_number"], "auxData1": "monthly_budget"}), record
    )
    assert lead["leadPhone"] == "7205550117|3035550142"
    assert lead["extendedLeadData"]["phoneExtension"] == "12"
    assert lead["auxData1"] == "$2,000_–_$5,000"


def test_no_phone_is_a_mapping_error():
    """A lead form without a phone question cannot be dialed."""
    with pytest.raises(MappingError) as info:
        map_record(source(), fetched({"email": "a@example.com", "phone_number": ""}))
    assert list(info.value.errors) == ["leadPhone"]


def test_unknown_extra_fields_never_break():
    """Odd values (lists, dicts, booleans) in unmapped questions are ignored."""
    lead = map_record(
        source(), fetched({"phone_number": "3035550142", "weird": [{"a": 1}], "flag": True}, is_organic=True)
    )
    assert lead["leadPhone"] == "3035550142" and lead["externId"] == "555"
