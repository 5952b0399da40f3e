"""Tests for mappings/google_forms.py: answers by question title, matched loosely."""

import json

import pytest
from werkzeug.datastructures import Headers

from handlers.base import Inbound, Record, SourceSettings, type_of
from mappings import MappingError, map_record
from mappings.google_forms import loose, match_titles
from tests.builders import DATA as TEST_DATA

DATA = TEST_DATA / "google_forms"
META = json.loads((DATA / "apps_script_json.meta.json").read_text())


def src(fields=None, region="US"):
    """A google_forms source."""
    return SourceSettings(
        name="gf",
        type="google_forms",
        options={"secret": [META["signature"]["secret"]]},
        fields=fields or {},
        default_region=region,
    )


def lead(answers, fields=None, region="US", **ids):
    """Map answers plus ids (responseId R-1 unless given)."""
    record = {**answers, "responseId": "R-1", "respondentEmail": None, **ids}
    return map_record(src(fields, region), Record(key=record["responseId"], fields=record))


def test_fixture_expected():
    """The fixture's expected block through verify + parse + map."""
    body = (DATA / "apps_script_json.json").read_bytes()
    request = Inbound(
        "POST", META["url"], "/webhooks/google-forms", {}, Headers(META["headers"]), body, META["content_type"]
    )
    handler = type_of("google_forms")
    handler.verify(src(), request, 0)
    result = map_record(src(), handler.parse(src(), request)[0])
    expected = META["expected"]
    assert result["externId"] == expected["externId"] and result["leadPhone"].split("|") == expected["phones"]
    for key in ("firstName", "lastName", "email", "zip"):
        assert result[key] == expected[key]


@pytest.mark.parametrize("title", ["Phone", "phone", "Phone number:", "PHONE NUMBER", "Mobile", "Cell", "Telephone"])
def test_phone_titles_match_loosely(title):
    """Case, spaces and punctuation are ignored."""
    assert lead({title: "(303) 555-0142"})["leadPhone"] == "3035550142"


def test_not_too_loose():
    """ "Your phone" or "Phone type" are not "Phone"."""
    with pytest.raises(MappingError):
        lead({"Your phone": "3035550142", "Phone type": "mobile"})


def test_respondent_email_first_then_answer():
    """Google's collected address wins; an "E-mail address" answer is the fallback."""
    assert (
        lead({"E-mail address": "Typed@Example.com", "Phone": "3035550142"}, respondentEmail="ada@example.com")["email"]
        == "ada@example.com"
    )
    assert lead({"E-mail address": " Typed@Example.com ", "Phone": "3035550142"})["email"] == "typed@example.com"


def test_full_name_split_intl_phone_and_zip_text():
    """ "Full name" splits on the first space; a UK number in E.164; a postcode stays text."""
    result = lead(
        {"Full name": "Zoë Ångström Smith", "Phone number": "020 7946 0958", "Postcode": "SW1A 1AA"}, region="GB"
    )
    assert (result["firstName"], result["lastName"]) == ("Zoë", "Ångström Smith")
    assert result["leadPhone"] == "+442079460958" and result["zip"] == "SW1A 1AA"


def test_zip_with_leading_zero_and_checkbox_list_phones():
    """ZIP keeps leading zeros; a list answer gives several numbers, primary first."""
    result = lead({"ZIP code": "02139", "Phone": ["617-555-0199", "303-555-0142 x5"]})
    assert result["zip"] == "02139" and result["leadPhone"] == "6175550199|3035550142"
    assert result["extendedLeadData"] == {"phoneExtension_3035550142": "5"}


def test_fields_override_by_title_and_extended_data():
    """`fields:` names a title (loosely) and may put answers into extendedLeadData."""
    answers = {"Best number to reach you?": "3035550142", "Phone": "7205550117", "Services": ["Install", "Maintenance"]}
    result = lead(
        answers, fields={"leadPhone": "best number to reach you", "extendedLeadData": {"services": "Services"}}
    )
    assert result["leadPhone"] == "3035550142" and result["extendedLeadData"] == {"services": "Install, Maintenance"}


def test_no_phone_and_no_response_id():
    """Missing phone and id are reported by field."""
    with pytest.raises(MappingError) as info:
        map_record(src(), Record(key=None, fields={"Name": "Ada", "Phone": ""}))
    assert set(info.value.errors) == {"externId", "leadPhone"}


def test_match_titles_exact_keys_win():
    """An exact key is kept; a loose match picks the first of near-identical titles."""
    data = {"Phone": "1", "phone": "2", "Phone.": "3"}
    assert match_titles({"leadPhone": ["phone", "PHONE"]}, data) == {"leadPhone": ["phone", "Phone"]}
    assert loose("E-mail Address:") == "emailaddress" and loose("電話 番号") == "電話番号"
