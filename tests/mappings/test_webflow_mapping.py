"""Webflow submissions → Engage leads (designer field names matched exactly or squashed)."""

import json

import pytest
from werkzeug.datastructures import Headers

from handlers.base import Inbound, SourceSettings
from handlers.webflow import Webflow
from mappings import MappingError, map_record
from mappings.webflow import squash, with_squashed_names
from tests.builders import DATA as TEST_DATA

DATA = TEST_DATA / "webflow"
WEBFLOW = Webflow()


def source(fields=None, region="US"):
    """A webflow source with optional `fields:` overrides."""
    return SourceSettings(
        name="webflow", type="webflow", options={"secret": ["s"]}, fields=fields or {}, default_region=region
    )


def record_of(data, sub_id="sub-1"):
    """Parse a v2 body with this form data."""
    body = {"triggerType": "form_submission", "payload": {"id": sub_id, "name": "Form", "data": data}}
    request = Inbound(
        "POST",
        "https://x/webhooks/webflow",
        "/webhooks/webflow",
        {},
        Headers(),
        json.dumps(body, ensure_ascii=False).encode(),
        "application/json",
    )
    [record] = WEBFLOW.parse(source(), request)
    return record


def test_fixture_known_answer():
    """The fixture's expected lead."""
    meta = json.loads((DATA / "form_submission.meta.json").read_text())
    request = Inbound(
        "POST",
        meta["url"],
        "/webhooks/webflow",
        {},
        Headers(meta["headers"]),
        (DATA / "form_submission.json").read_bytes(),
        "application/json",
    )
    [record] = WEBFLOW.parse(source(), request)
    lead = map_record(source(), record)
    expected = meta["expected"]
    assert lead["externId"] == expected["externId"]
    assert lead["leadPhone"].split("|") == expected["phones"]
    for key in ("firstName", "lastName", "email", "zip"):
        assert lead[key] == expected[key]


@pytest.mark.parametrize(
    "name,squashed",
    [
        ("First Name", "firstname"),
        ("E-mail", "email"),
        ("phone_number", "phonenumber"),
        ("ZIP / Postal Code", "zippostalcode"),
        ("Téléphone", "téléphone"),
    ],
)
def test_squash(name, squashed):
    """Case, spaces, dashes, underscores and punctuation are dropped; letters stay (accents too)."""
    assert squash(name) == squashed


def test_exact_key_wins_over_squashed_alias():
    """An exact key is never replaced by another key's alias."""
    data = with_squashed_names({"Email": "a@x.com", "email": "b@x.com"})
    assert data["email"] == "b@x.com"


def test_numeric_phone_and_name_split():
    """Webflow's numeric phone example dials; a single Name field is split."""
    lead = map_record(
        source(), record_of({"Name": "Ada Lovelace King", "Phone Number": 15550000000, "E-mail": "Ada@Example.com"})
    )
    assert lead["leadPhone"] == "5550000000"
    assert (lead["firstName"], lead["lastName"]) == ("Ada", "Lovelace King")
    assert lead["email"] == "ada@example.com"


def test_extension_and_second_number():
    """An extension is dropped from the number and kept; a mobile is the second number."""
    lead = map_record(source(), record_of({"phone": "(303) 555-0142 ext. 7", "Mobile": "+1 720 555 0117"}))
    assert lead["leadPhone"] == "3035550142|7205550117"
    assert lead["extendedLeadData"]["phoneExtension"] == "7"


def test_international_and_fields_override():
    """`fields:` names the designer's field exactly; a German number becomes E.164."""
    lead = map_record(
        source({"leadPhone": "Telefonnummer", "firstName": "Vorname", "zip": "PLZ"}, region="DE"),
        record_of({"Vorname": "Jürgen", "Telefonnummer": "030 1234567", "PLZ": "01067"}),
    )
    assert lead["leadPhone"] == "+49301234567" and lead["leadPhoneE164"] == "+49301234567"
    assert lead["firstName"] == "Jürgen" and lead["zip"] == "01067"


def test_empty_values_and_bad_email():
    """Blank fields are skipped; a malformed email is dropped, the lead kept."""
    lead = map_record(
        source(),
        record_of({"First Name": "", "Name": "Ada", "Email": "not-an-email", "Phone": "3035550142", "Zip": "   "}),
    )
    assert lead["firstName"] == "Ada" and "email" not in lead and "zip" not in lead


def test_no_phone_is_a_mapping_error():
    """No dialable number names the phone fields tried."""
    with pytest.raises(MappingError) as info:
        map_record(source(), record_of({"Email": "a@example.com", "Phone": "n/a"}))
    assert list(info.value.errors) == ["leadPhone"]
    assert "phone" in info.value.errors["leadPhone"][0]


def test_submission_meta_reachable():
    """The form name and payload paths can feed lead fields."""
    lead = map_record(
        source({"auxData1": "formName", "auxData2": "payload.data.utm_campaign"}),
        record_of({"Phone": "3035550142", "utm_campaign": "winter"}),
    )
    assert lead["auxData1"] == "Form" and lead["auxData2"] == "winter"
