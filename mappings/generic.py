"""Generic JSON / form records → Engage leads; also the fallback for types without a module.

Default field map (posted keys or JSON keys; dotted paths reach nested JSON):

    externId   id
    leadPhone  phone, mobile         (primary first)
    firstName  first_name            lastName  last_name
    fullName   name                  (split only when neither first nor last name resolves)
    email      email                 zip       zip
    address1   address               city      city          state  state
"""

from __future__ import annotations

from mappings.base import LeadMappingSchema

DEFAULT_FIELDS = {
    "externId": "id",
    "leadPhone": ["phone", "mobile"],
    "firstName": "first_name",
    "lastName": "last_name",
    "fullName": "name",
    "email": "email",
    "zip": "zip",
    "address1": "address",
    "city": "city",
    "state": "state",
}


class GenericLeadSchema(LeadMappingSchema):
    """Generic records use the shared gathering unchanged."""


Schema = GenericLeadSchema
