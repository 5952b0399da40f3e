"""HubSpot Webhooks-API records → leads: id-only events cannot dial; a fetched contact maps like a workflow body."""

from handlers.base import Record, SourceSettings
from handlers.hubspot import contact_fields, event_record
from mappings import MappingError, map_record

SRC = SourceSettings(name="hs", type="hubspot")
EVENT = {
    "eventId": 1,
    "subscriptionId": 2,
    "portalId": 3,
    "subscriptionType": "contact.propertyChange",
    "objectId": 51234890,
    "propertyName": "phone",
    "propertyValue": "+1 (415) 555-0188",
}


def test_phone_change_event_carries_only_the_number():
    """Before the fetch a phone change maps to a bare number with no names: hence the fetch for every event."""
    record = event_record(EVENT)
    assert record.fetch == {"object": "contact", "id": "51234890", "portalId": 3}
    lead = map_record(SRC, record)
    assert lead == {"externId": "51234890", "leadPhone": "4155550188"}


def test_creation_event_alone_cannot_map():
    """A creation event has ids only."""
    record = event_record({**EVENT, "subscriptionType": "contact.creation", "propertyName": None})
    try:
        map_record(SRC, record)
    except MappingError as exc:
        assert list(exc.errors) == ["leadPhone"]
    else:
        raise AssertionError("an id-only event must not map")


def test_fetched_contact_maps():
    """CRM v3 properties flat + id → the default map; event fields reachable by `event.`."""
    fields = contact_fields(
        {
            "id": "51234890",
            "properties": {
                "firstname": "Grace",
                "lastname": "Hopper",
                "phone": "+1 (415) 555-0188",
                "mobilephone": None,
                "email": "GRACE@example.com",
                "zip": "02134",
            },
        },
        EVENT,
    )
    src = SourceSettings(name="hs", type="hubspot", fields={"auxData1": "event.changeSource"})
    lead = map_record(src, Record(key="3:2:1", fields={**fields, "event.changeSource": "API"}))
    assert lead == {
        "externId": "51234890",
        "leadPhone": "4155550188",
        "firstName": "Grace",
        "lastName": "Hopper",
        "email": "grace@example.com",
        "zip": "02134",
        "auxData1": "API",
    }
