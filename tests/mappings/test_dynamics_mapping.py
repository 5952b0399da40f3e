"""Dynamics records → Engage leads: the fixture's known answers, Update with a PostImage, Delete never dials."""

import json

from mappings import MappingError
from tests.mappings.crm_helpers import check_expected, fixture_request, leads, request, update_context


def test_fixture_expected():
    """lead_create.json: externId PrimaryEntityId, telephone1 then mobilephone, names, email, zip."""
    inbound, meta = fixture_request("dynamics365", "lead_create.json")
    [lead] = leads("dynamics", inbound, options={"webhook_key": [meta["auth"]["webhook_key"]]})
    check_expected(lead, meta["expected"])
    assert lead["city"] == "Denver"


def test_update_with_post_image_uk():
    """The PostImage supplies the names; UK numbers in E.164; email lower-cased."""
    [lead] = leads("dynamics", request("dynamics", json.dumps(update_context()).encode()), default_region="GB")
    assert lead["externId"] == "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"
    assert lead["leadPhone"] == "+442079460958|+447700900123"
    assert (lead["firstName"], lead["email"], lead["zip"]) == ("Olu", "olu@example.co.uk", "SW1A 1AA")


def test_formatted_value_in_extended_data():
    """An option label reaches extendedLeadData through a dotted path."""
    inbound, _meta = fixture_request("dynamics365", "lead_create.json")
    [lead] = leads("dynamics", inbound, fields={"extendedLeadData": {"rating": "FormattedValues.leadqualitycode"}})
    assert lead["extendedLeadData"] == {"rating": "Hot"}


def test_delete_never_dials():
    """A Delete message is refused even when a phone is reachable."""
    context = update_context()
    context["MessageName"] = "Delete"
    [result] = leads("dynamics", request("dynamics", json.dumps(context).encode()))
    assert isinstance(result, MappingError) and list(result.errors) == ["event"]
