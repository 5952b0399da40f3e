"""Each sender fixture's `expected` block, checked through parse + map_record."""

import json

import pytest
from werkzeug.datastructures import Headers

from handlers.base import Inbound, SourceSettings, type_of
from mappings import MappingError, map_record
from tests.builders import DATA

NOW = 1768496645.123

CASES = [
    ("hubspot", "workflow_contact_all_properties", {"client_secret": "8e2b4b4c-1f7a-4c3e-9d2a-5b6f7e8d9c0a"}),
    ("typeform", "form_response_hot", {"secret": "tf_test_secret_9f8e7d6c5b4a"}),
    ("typeform", "form_response_no_phone", {"secret": "tf_test_secret_9f8e7d6c5b4a"}),
]


def load(sender, name, options):
    """The fixture as (source, verified request, meta)."""
    meta = json.loads((DATA / sender / f"{name}.meta.json").read_text())
    body = (DATA / sender / f"{name}.json").read_bytes()
    request = Inbound(
        meta["method"], meta["url"], "/webhooks/" + sender, {}, Headers(meta["headers"]), body, meta["content_type"]
    )
    stype = type_of(sender)
    schema = stype.options_schema
    assert schema is not None
    # Options loaded as the config file loads them (secrets become lists).
    src = SourceSettings(name=sender, type=sender, options=schema().load(options))
    stype.verify(src, request, NOW)
    return src, request, meta


@pytest.mark.parametrize("sender,name,options", CASES, ids=[c[1] for c in CASES])
def test_fixture_expected(sender, name, options):
    """externId, phones, extensions, names, email and zip as the fixture says."""
    src, request, meta = load(sender, name, options)
    expected = meta["expected"]
    [record] = type_of(sender).parse(src, request)
    if "idempotencyKey" in expected:
        assert record.key == expected["idempotencyKey"]
    if not expected["phones"]:
        with pytest.raises(MappingError) as info:
            map_record(src, record)
        assert list(info.value.errors) == ["leadPhone"]
        return
    lead = map_record(src, record)
    assert lead["externId"] == expected["externId"]
    assert lead["leadPhone"].split("|") == expected["phones"]
    for number, ext in expected.get("phoneExtensions", {}).items():
        key = "phoneExtension" if number == expected["phones"][0] else f"phoneExtension_{number}"
        assert lead["extendedLeadData"][key] == ext
    for field in ("firstName", "lastName", "email", "zip"):
        assert lead.get(field) == expected[field]


def test_hubspot_hot_signals_reachable_for_routes():
    """The fixture's hot signals are plain fields of the record."""
    src, request, meta = load(*CASES[0])
    [record] = type_of("hubspot").parse(src, request)
    for name, value in meta["expected"]["hotSignals"].items():
        assert record.get(name) == value


def test_hubspot_ignored_unknown_fields_not_on_lead():
    """Unknown properties and profile blocks never reach the lead."""
    src, request, _ = load(*CASES[0])
    lead = map_record(src, type_of("hubspot").parse(src, request)[0])
    assert "teal" not in json.dumps(lead) and "Get a quote" not in json.dumps(lead)


def test_typeform_zip_plus_four_with_phone_override():
    """The no-phone fixture keeps ZIP+4 (leading zero) once a phone is mapped from a hidden field."""
    src, request, _ = load(*CASES[2])
    [record] = type_of("typeform").parse(src, request)
    record.fields["hidden"]["callback"] = "617-555-0199"
    src.fields = {"leadPhone": ["phone", "hidden.callback"], "extendedLeadData": {"crm": "hidden.crm_id"}}
    lead = map_record(src, record)
    assert lead["zip"] == "02139-4307" and lead["leadPhone"] == "6175550199"
    assert lead["extendedLeadData"] == {"crm": "SF-00Q5e00000AbCdEFGH"}


def test_typeform_score_for_routes():
    """score and answer refs are reachable as the routes will ask for them."""
    src, request, _ = load(*CASES[1])
    [record] = type_of("typeform").parse(src, request)
    assert record.get("score") == 87 and record.get("timeline") == "This week" and record.get("budget") == 2500
