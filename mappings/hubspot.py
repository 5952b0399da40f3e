"""HubSpot records → Engage leads.

Default field map (HubSpot internal property names, flattened by handlers/hubspot.py):

    externId   vid | hs_object_id | id | objectId   (the first that resolves)
    leadPhone  phone, mobilephone                    (primary first)
    firstName  firstname        lastName  lastname        email  email
    address1   address          city      city            state  state      zip  zip
"""

from __future__ import annotations

from mappings.base import LeadMappingSchema

DEFAULT_FIELDS = {
    "externId": ["vid", "hs_object_id", "id", "objectId"],
    "leadPhone": ["phone", "mobilephone"],
    "firstName": "firstname",
    "lastName": "lastname",
    "email": "email",
    "address1": "address",
    "city": "city",
    "state": "state",
    "zip": "zip",
}


class HubSpotLeadSchema(LeadMappingSchema):
    """HubSpot needs nothing beyond the shared gathering: properties are already flat."""


Schema = HubSpotLeadSchema
