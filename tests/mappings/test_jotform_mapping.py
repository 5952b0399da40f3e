"""Tests for mappings/jotform.py: suffix patterns, phone shapes, addresses, overrides."""

import json

import pytest
from werkzeug.datastructures import Headers

from handlers.base import Inbound, Record, SourceSettings, type_of
from mappings import MappingError, map_record
from mappings.jotform import expand
from tests.builders import DATA as TEST_DATA

DATA = TEST_DATA / "jotform"
META = json.loads((DATA / "submission_multipart.meta.json").read_text())


def src(fields=None, region="US"):
    """A Jotform source."""
    return SourceSettings(name="jotform", type="jotform", fields=fields or {}, default_region=region, tokens=["t"])


def lead(raw, fields=None, region="US", sid="6000000000000000001"):
    """Map a rawRequest dict (plus submissionID) with the default map or `fields`."""
    return map_record(src(fields, region), Record(key=sid, fields={**raw, "submissionID": sid}))


def test_fixture_expected():
    """The fixture's expected block through parse + map."""
    body = (DATA / "submission_multipart.txt").read_bytes()
    request = Inbound(
        "POST", META["url"], "/webhooks/jotform", {}, Headers(META["headers"]), body, META["content_type"]
    )
    [record] = type_of("jotform").parse(src(), request)
    result = map_record(src(), record)
    expected = META["expected"]
    assert result["externId"] == expected["externId"]
    assert result["leadPhone"].split("|") == expected["phones"]
    for key in ("firstName", "lastName", "email", "zip"):
        assert result[key] == expected[key]
    assert (result["address1"], result["city"], result["state"]) == ("1600 Example St", "Denver", "CO")
    assert "address2" not in result  # blank line 2 is left out


def test_older_area_phone_shape():
    """{area, phone} becomes one number."""
    assert lead({"q5_phoneNumber": {"area": "303", "phone": "555-0142"}})["leadPhone"] == "3035550142"
    assert lead({"q5_phone": {"area": "", "phone": "+44 20 7946 0958", "full": ""}})["leadPhone"] == "+442079460958"


def test_several_phones_primary_by_question_number():
    """Every phone question, lowest question number first; duplicates removed; extensions kept."""
    raw = {
        "q12_phoneNumber12": {"full": "(720) 555-0117"},
        "q5_phoneNumber": {"full": "(303) 555-0142 ext. 7"},
        "q8_phone": "303.555.0142",
    }
    result = lead(raw)
    assert result["leadPhone"] == "3035550142|7205550117"
    assert result["extendedLeadData"] == {"phoneExtension": "7"}


def test_intl_name_and_full_name_fallbacks():
    """Unicode names; a plain `*_fullName` or a string `*_name` is split when there is no first/last."""
    result = lead(
        {
            "q3_name": {"first": "Zoë", "middle": "M.", "last": "Ångström", "suffix": "Jr."},
            "q4_phone": "+33 1 42 68 53 00",
        },
        region="FR",
    )
    assert (result["firstName"], result["midName"], result["lastName"], result["suffix"]) == (
        "Zoë",
        "M.",
        "Ångström",
        "Jr.",
    )
    assert result["leadPhone"] == "+33142685300" and result["leadPhoneE164"] == "+33142685300"
    assert lead({"q3_fullName": "山田 太郎", "q4_phone": "3035550142"})["firstName"] == "山田"
    assert lead({"q3_name": "Grace Hopper", "q4_phone": "3035550142"})["lastName"] == "Hopper"


def test_suffix_does_not_match_other_questions():
    """`*_name` is not `q9_companyName`; `*_email` is not `q7_emailConsent`."""
    result = lead(
        {"q9_companyName": "Acme", "q7_emailConsent": "yes", "q4_phone": "3035550142", "q6_email5": " ADA@EXAMPLE.COM "}
    )
    assert "firstName" not in result and result["email"] == "ada@example.com"


def test_exact_keys_override_and_extended_data():
    """`fields:` with exact keys replace the patterns for that key only; extendedLeadData reaches answers."""
    raw = {
        "q5_phoneNumber": {"full": "3035550142"},
        "q11_mobile": {"full": "7205550117"},
        "q7_howSoon": "Today",
        "q3_name": {"first": "Ada", "last": "Example"},
    }
    result = lead(
        raw,
        fields={
            "leadPhone": ["q11_mobile.full", "q5_phoneNumber.full"],
            "extendedLeadData": {"timeline": "q7_howSoon"},
        },
    )
    assert result["leadPhone"] == "7205550117|3035550142" and result["firstName"] == "Ada"
    assert result["extendedLeadData"] == {"timeline": "Today"}


def test_patterns_work_in_fields_too():
    """A user may write a pattern: `*_mobile.full`."""
    assert (
        lead({"q11_mobile": {"full": "7205550117"}}, fields={"leadPhone": "*_mobile.full"})["leadPhone"] == "7205550117"
    )


def test_no_phone_names_what_was_looked_for():
    """No phone question: the error names the patterns; unknown extra fields never break."""
    with pytest.raises(MappingError) as info:
        lead({"q3_name": {"first": "Ada"}, "q9_widget": {"deep": [1, {"x": None}]}, "q8_typeA": ""})
    assert list(info.value.errors) == ["leadPhone"] and "*_phoneNumber.full" in info.value.errors["leadPhone"][0]


def test_missing_submission_id_is_invalid():
    """No submissionID: externId missing."""
    with pytest.raises(MappingError) as info:
        map_record(src(), Record(key=None, fields={"q4_phone": "3035550142"}))
    assert "externId" in info.value.errors


def test_expand_orders_and_skips_objects():
    """Patterns expand in question order; a pattern without a sub-path skips objects."""
    data = {"q10_phone": "1", "q2_phone2": {"full": "2"}, "q3_phone": "3", "phone": "4"}
    assert expand("*_phone", data) == ["q3_phone", "q10_phone"]
    assert expand("*_phone.full", data) == ["q2_phone2.full", "q3_phone.full", "q10_phone.full"]
    assert expand("*_nothing", data) == ["*_nothing"] and expand("q3_phone", data) == ["q3_phone"]
