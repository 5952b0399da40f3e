"""Unbounce submissions → Engage leads."""

import json
from urllib.parse import urlencode

import pytest
from werkzeug.datastructures import Headers

from handlers.base import Inbound, SourceSettings
from handlers.unbounce import Unbounce
from mappings import MappingError, map_record
from tests.builders import DATA as TEST_DATA

DATA = TEST_DATA / "unbounce"
UNBOUNCE = Unbounce()
FORM = "application/x-www-form-urlencoded"


def source(fields=None, region="US", phones="all"):
    """An Unbounce source with optional `fields:` overrides."""
    return SourceSettings(
        name="unbounce", type="unbounce", tokens=["t"], fields=fields or {}, default_region=region, phones=phones
    )


def parse(body):
    """Parse a form body into its one record."""
    [record] = UNBOUNCE.parse(
        source(),
        Inbound(
            "POST", "https://x/webhooks/unbounce", "/webhooks/unbounce", {}, Headers({"Content-Type": FORM}), body, FORM
        ),
    )
    return record


def submission(**answers):
    """A form body whose data.json holds these answers (each wrapped in an array)."""
    data = {k: v if isinstance(v, list) else [v] for k, v in answers.items()}
    data.update(date_submitted=["2026-01-15"], time_submitted=["05:04 PM UTC"], page_uuid=["p-1"])
    return urlencode({"data.json": json.dumps(data, ensure_ascii=False), "page_id": "p-1"}).encode()


def test_fixture_known_answer():
    """The fixture's expected lead; the externId is the synthesized id (the fixture has none)."""
    meta = json.loads((DATA / "form_submit.meta.json").read_text())
    record = parse((DATA / "form_submit.txt").read_bytes())
    lead = map_record(source(), record)
    expected = meta["expected"]
    assert expected["externId"] is None
    assert lead["externId"] == record.fields["ub_submission_id"] and lead["externId"].startswith("ub-")
    assert lead["leadPhone"].split("|") == expected["phones"]
    for key in ("firstName", "lastName", "email", "zip"):
        assert lead[key] == expected[key]


def test_author_spelled_fields_resolve_squashed():
    """Field ids like `Phone-Number`, `Zip_Code`, `Full Name` reach the defaults."""
    lead = map_record(
        source(),
        parse(
            submission(
                **{
                    "Phone-Number": "303 555 0142 x 9",
                    "Zip_Code": "02134",
                    "Full Name": "Ana María López",
                    "Email": " ANA@EXAMPLE.COM ",
                }
            )
        ),
    )
    assert lead["leadPhone"] == "3035550142" and lead["extendedLeadData"]["phoneExtension"] == "9"
    assert lead["zip"] == "02134" and (lead["firstName"], lead["lastName"]) == ("Ana", "María López")
    assert lead["email"] == "ana@example.com"


def test_international_multi_phone_primary_only():
    """Several numbers: primary first, duplicates removed; `phones: primary` keeps one."""
    record = parse(submission(phone_number="+33 1 42 68 53 00", mobile=["+33 1 42 68 53 00", "+33 6 12 34 56 78"]))
    assert map_record(source(), record)["leadPhone"] == "+33142685300|+33612345678"
    lead = map_record(source(phones="primary"), record)
    assert lead["leadPhone"] == "+33142685300" and lead["leadPhoneE164"] == "+33142685300"


def test_fields_override_and_page_fields():
    """A custom field id via `fields:`; the form's page fields reachable as lead data."""
    body = urlencode(
        {
            "data.json": json.dumps({"best_phone": ["7205550117"], "how_soon": ["ASAP"]}),
            "page_id": "p-1",
            "page_name": "Free Quote",
            "variant": "b",
        }
    ).encode()
    lead = map_record(
        source({"leadPhone": "best_phone", "auxData1": "page_name", "auxData2": "variant", "auxData3": "how_soon"}),
        parse(body),
    )
    assert lead["leadPhone"] == "7205550117"
    assert (lead["auxData1"], lead["auxData2"], lead["auxData3"]) == ("Free Quote", "b", "ASAP")


def test_multi_value_answer_joined_as_text():
    """A checkbox list in a text field is joined."""
    lead = map_record(
        source({"auxData1": "services"}), parse(submission(phone="3035550142", services=["Roof", "Gutters"]))
    )
    assert lead["auxData1"] == "Roof, Gutters"


def test_no_phone_is_a_mapping_error():
    """An empty phone answer (empty array) cannot be dialed."""
    with pytest.raises(MappingError) as info:
        map_record(source(), parse(submission(email="a@example.com", phone_number=[])))
    assert list(info.value.errors) == ["leadPhone"]
