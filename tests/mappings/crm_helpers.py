"""Helpers shared by the CRM mapping tests: fixture requests, parse + map, the `expected` check."""

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from werkzeug.datastructures import Headers

from handlers.base import Inbound, SourceSettings, type_of
from mappings import MappingError, map_record
from tests.builders import DATA

ORG18 = "00D5e000000AbCdEAK"


def fixture_request(folder: str, body_name: str) -> tuple[Inbound, dict]:
    """The fixture as an Inbound plus its meta."""
    stem = body_name.rsplit(".", 1)[0]
    meta = json.loads((DATA / folder / f"{stem}.meta.json").read_text())
    body = (DATA / folder / body_name).read_bytes()
    parts = urlsplit(meta["url"])
    return Inbound(
        "POST", meta["url"], parts.path, parse_qs(parts.query), Headers(meta["headers"]), body, meta["content_type"]
    ), meta


def request(type_name: str, body: bytes, content_type: str = "application/json") -> Inbound:
    """A bare POST with `body`."""
    return Inbound(
        "POST",
        f"https://leads.example.com/webhooks/{type_name}",
        f"/webhooks/{type_name}",
        {},
        Headers({"Content-Type": content_type}),
        body,
        content_type,
    )


def leads(type_name: str, inbound: Inbound, **settings: Any) -> list[Any]:
    """Parse and map every record; a MappingError is returned in place of its lead."""
    src = SourceSettings(name=type_name, type=type_name, **settings)
    out: list[Any] = []  # lead dicts, or MappingErrors: each test knows which it expects
    for record in type_of(type_name).parse(src, inbound):
        try:
            out.append(map_record(src, record))
        except MappingError as exc:
            out.append(exc)
    return out


def check_expected(lead: dict, expected: dict) -> None:
    """externId, phones, extensions, names, email and zip as a fixture's `expected` says."""
    assert lead["externId"] == expected["externId"]
    assert lead["leadPhone"].split("|") == expected["phones"]
    for number, ext in expected.get("phoneExtensions", {}).items():
        key = "phoneExtension" if number == expected["phones"][0] else f"phoneExtension_{number}"
        assert lead["extendedLeadData"][key] == ext
    for field in ("firstName", "lastName", "email", "zip"):
        assert lead.get(field) == expected[field], field


def envelope(notifications: str, org=ORG18, extra="") -> bytes:
    """An outbound message with the given Notification elements."""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId><ActionId>04k5e000000AbCdAAK</ActionId>{extra}"
        f"{notifications}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def notification(note_id, kind, **fields):
    """One Notification with an sObject of `kind` and `sf:` fields."""
    inner = "".join(f"<sf:{k}>{v}</sf:{k}>" for k, v in fields.items())
    return (
        f'<Notification><Id>{note_id}</Id><sObject xsi:type="sf:{kind}" '
        f'xmlns:sf="urn:sobject.enterprise.soap.sforce.com">{inner}</sObject></Notification>'
    )


CONTACT_BATCH = envelope(
    notification(
        "04l5e00000AbCdEAA1",
        "Contact",
        Id="0035e00000XyZaBCDE",
        FirstName="Olu",
        LastName="Adébáyọ̀",
        Phone="+44 (0)20 7946 0958",
        MobilePhone="07700 900123",
        MailingPostalCode="SW1A 1AA",
    )
    + notification(
        "04l5e00000AbCdEAA2",
        "Contact",
        Id="0035e00000XyZaBCDF",
        FirstName="No",
        LastName="Phone",
        Email="no.phone@example.com",
    ),
    extra="<SessionId>00D5e000000AbCd!AQ0AQFakeSession</SessionId>",
)


def update_context():
    """An Update of a contact: the Target holds one changed column, the PostImage the whole row."""
    context = json.loads((DATA / "dynamics365" / "lead_create.json").read_bytes())
    context.update(
        MessageName="Update",
        PrimaryEntityName="contact",
        PrimaryEntityId="0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9",
        RequestId="aaaaaaaa-1111-4222-8333-444444444444",
    )
    context["InputParameters"] = [
        {
            "key": "Target",
            "value": {
                "__type": "Entity:http://schemas.microsoft.com/xrm/2011/Contracts",
                "LogicalName": "contact",
                "Id": "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9",
                "Attributes": [
                    {"key": "contactid", "value": "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9"},
                    {"key": "telephone1", "value": "+44 20 7946 0958"},
                ],
                "FormattedValues": [],
            },
        }
    ]
    context["PostEntityImages"] = [
        {
            "key": "PostImage",
            "value": {
                "LogicalName": "contact",
                "Id": "0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9",
                "Attributes": [
                    {"key": "firstname", "value": "Olu"},
                    {"key": "lastname", "value": "Adébáyọ̀"},
                    {"key": "telephone1", "value": "+44 20 7946 0958"},
                    {"key": "mobilephone", "value": "07700 900123"},
                    {"key": "emailaddress1", "value": "Olu@Example.co.uk"},
                    {"key": "address1_postalcode", "value": "SW1A 1AA"},
                    {
                        "key": "creditlimit",
                        "value": {"__type": "Money:http://schemas.microsoft.com/xrm/2011/Contracts", "Value": 2500.5},
                    },
                    {"key": "preferredcontactmethodcode", "value": {"__type": "OptionSetValue:x", "Value": 3}},
                ],
                "FormattedValues": [{"key": "preferredcontactmethodcode", "value": "Phone"}],
            },
        }
    ]
    context["PreEntityImages"] = []
    return context
