"""Pipedrive records → Engage leads: both fixtures' known answers, primary ordering, deletes never dial."""

import json

import pytest

from handlers.base import Record, SourceSettings
from mappings import MappingError, map_record
from tests.mappings.crm_helpers import check_expected, fixture_request, leads, request


@pytest.mark.parametrize("name", ["v1_added_person.json", "v2_create_person.json"])
def test_fixture_expected(name):
    """externId, phones primary first (UK E.164 first in v2), names, email, zip."""
    inbound, meta = fixture_request("pipedrive", name)
    [lead] = leads("pipedrive", inbound)
    check_expected(lead, meta["expected"])


def test_v2_uk_primary_sets_e164():
    """A non-NANP primary number also fills leadPhoneE164."""
    inbound, _ = fixture_request("pipedrive", "v2_create_person.json")
    [lead] = leads("pipedrive", inbound)
    assert lead["leadPhoneE164"] == "+442079460958"


def person_body(person, action="change"):
    """A v2 person webhook body."""
    return json.dumps(
        {
            "data": person,
            "previous": None,
            "meta": {
                "action": action,
                "entity": "person",
                "entity_id": str(person.get("id")),
                "id": "evt-1",
                "version": "2.0",
            },
        }
    ).encode()


def test_primary_listed_last_still_dials_first_and_extension_kept():
    """Primary first whatever the order; an extension lands in extendedLeadData."""
    body = person_body(
        {
            "id": 5,
            "name": "Grace Hopper",
            "phones": [{"value": "720-555-0117", "primary": False}, {"value": "(303) 555-0142 x 12", "primary": True}],
            "emails": [
                {"value": "second@example.com", "primary": False},
                {"value": " First@Example.com", "primary": True},
            ],
        }
    )
    [lead] = leads("pipedrive", request("pipedrive", body))
    assert lead["leadPhone"] == "3035550142|7205550117"
    assert lead["extendedLeadData"] == {"phoneExtension": "12"}
    assert lead["email"] == "first@example.com"
    assert (lead["firstName"], lead["lastName"]) == ("Grace", "Hopper")  # split from `name`


def test_no_phone_is_invalid():
    """Empty phone arrays (the v2 docs' example) leave nothing to dial."""
    [result] = leads("pipedrive", request("pipedrive", person_body({"id": 6, "name": "X", "phones": [], "emails": []})))
    assert isinstance(result, MappingError) and "leadPhone" in result.errors


@pytest.mark.parametrize(
    "body",
    [
        json.dumps(
            {
                "meta": {"action": "deleted", "object": "person", "id": 4821, "webhook_id": "1", "timestamp_micro": 5},
                "current": None,
                "event": "deleted.person",
                "previous": {"id": 4821, "phone": [{"value": "3035550142", "primary": True}]},
            }
        ).encode(),
        person_body({"id": 7, "phones": [{"value": "3035550142", "primary": True}]}, action="delete"),
    ],
)
def test_delete_never_dials_even_with_a_custom_map(body):
    """A delete is refused by the mapping, whatever `fields:` points at."""
    [result] = leads("pipedrive", request("pipedrive", body), fields={"leadPhone": ["previous.phone.0.value"]})
    assert isinstance(result, MappingError) and list(result.errors) == ["event"]


def test_fetched_person_for_a_deal_maps_and_keeps_the_deal():
    """The record the fetch returns maps like a person; deal fields stay reachable."""
    record = Record(
        key="e-1",
        event="change.deal",
        fields={
            "id": 4830,
            "name": "Ada Example",
            "phone_values": ["(303) 555-0142"],
            "email_values": [],
            "deal": {"value": 5000},
            "action": "change",
            "event": "change.deal",
        },
    )
    src = SourceSettings(name="pd", type="pipedrive", fields={"auxData1": "deal.value"})
    lead = map_record(src, record)
    assert (lead["externId"], lead["leadPhone"], lead["auxData1"]) == ("4830", "3035550142", "5000")


def test_custom_field_by_hash():
    """A custom phone field by its hash key, v1 or v2 alike."""
    body = person_body(
        {"id": 8, "phones": [], "custom_fields": {"abc123": {"type": "phone", "value": "+49 30 901820"}}}
    )
    [lead] = leads("pipedrive", request("pipedrive", body), fields={"leadPhone": ["phone_values", "abc123"]})
    assert lead["leadPhone"] == "+4930901820"
