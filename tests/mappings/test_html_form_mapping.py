"""Tests for mappings/html_form.py: default names, server id, honeypot refusal."""

import json

import pytest
from werkzeug.datastructures import Headers

import handlers.html_form as html_form
from handlers.base import Inbound, Record, SourceSettings, type_of
from mappings import MappingError, map_record
from tests.builders import DATA as TEST_DATA

DATA = TEST_DATA / "html_form"
META = json.loads((DATA / "contact_form.meta.json").read_text())


@pytest.fixture(autouse=True)
def fresh_limits():
    """No rate-limit state leaks between tests."""
    html_form.reset_limits()
    yield
    html_form.reset_limits()


def src(fields=None, region="US"):
    """An html_form source."""
    return SourceSettings(name="form-map", type="html_form", fields=fields or {}, default_region=region)


def lead(fields, source=None):
    """Map posted fields (with a server id) with the default map."""
    return map_record(source or src(), Record(key=None, fields={**fields, "_id": "web-abc"}))


def test_fixture_expected():
    """The fixture's expected block through parse + map; externId is server-generated."""
    body = (DATA / "contact_form.txt").read_bytes()
    request = Inbound(
        "POST",
        META["url"],
        "/webhooks/form/contact",
        {},
        Headers(META["headers"]),
        body,
        META["content_type"],
        "198.51.100.7",
    )
    [record] = type_of("html_form").parse(src(), request)
    result = map_record(src(), record)
    expected = META["expected"]
    assert expected["externId"] is None and result["externId"].startswith("web-")
    assert result["leadPhone"].split("|") == expected["phones"]
    for key in ("firstName", "lastName", "email", "zip"):
        assert result[key] == expected[key]
    assert "Please call me" not in json.dumps(result)  # unmapped fields stay off the lead


@pytest.mark.parametrize(
    "posted,first,last",
    [
        ({"name": "Ada Example"}, "Ada", "Example"),
        ({"full_name": "Zoë Ångström"}, "Zoë", "Ångström"),
        ({"first_name": "Ada", "name": "ignored"}, "Ada", None),
        ({"name": "Cher"}, "Cher", None),
    ],
)
def test_names(posted, first, last):
    """name/full_name split only without first/last."""
    result = lead({**posted, "tel": "3035550142"})
    assert result.get("firstName") == first and result.get("lastName") == last


def test_repeated_phone_intl_and_postal_code():
    """Several numbers primary first; an international one in E.164; postal_code as zip."""
    result = lead({"phone": ["+44 20 7946 0958", "(303) 555-0142 x12", "+44 20 7946 0958"], "postal_code": "SW1A 1AA"})
    assert result["leadPhone"] == "+442079460958|3035550142" and result["leadPhoneE164"] == "+442079460958"
    assert result["extendedLeadData"] == {"phoneExtension_3035550142": "12"} and result["zip"] == "SW1A 1AA"


def test_bad_email_dropped_empty_values_ignored():
    """A malformed email does not lose the lead; empty fields are not mapped."""
    result = lead({"phone": "3035550142", "email": "not-an-email", "city": "", "state": "  "})
    assert "email" not in result and "city" not in result and "state" not in result


def test_honeypot_is_invalid_even_with_a_good_phone():
    """A marked record never becomes a lead: reason `honeypot`."""
    with pytest.raises(MappingError) as info:
        map_record(src(), Record(key=None, fields={"phone": "3035550142", "_id": "web-1", "_honeypot": True}))
    assert list(info.value.errors) == ["honeypot"]


def test_own_hidden_id_and_field_names():
    """A form may carry its own id and names; `fields:` merges over the defaults."""
    result = lead(
        {"crm_id": "C-9", "Phone Number": "3035550142", "first_name": "Ada"},
        src(fields={"externId": "crm_id", "leadPhone": "Phone Number"}),
    )
    assert result["externId"] == "C-9" and result["firstName"] == "Ada"


def test_no_phone():
    """No phone: leadPhone error naming the fields looked at."""
    with pytest.raises(MappingError) as info:
        lead({"name": "Ada", "phone": "call me"})
    assert "phone, tel, mobile" in info.value.errors["leadPhone"][0]
