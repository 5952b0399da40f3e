"""Typeform responses → Engage leads.

Default field map (Typeform `field.ref`s, `hidden.<name>` for hidden fields; see handlers/typeform.py):

    externId   token                 (the response id)
    leadPhone  phone, phone_number   (primary first)
    firstName  first_name            lastName  last_name
    fullName   name                  (split only when neither first nor last name resolves)
    email      email                 zip       zip
"""

from __future__ import annotations

from mappings.base import LeadMappingSchema

DEFAULT_FIELDS = {
    "externId": "token",
    "leadPhone": ["phone", "phone_number"],
    "firstName": "first_name",
    "lastName": "last_name",
    "fullName": "name",
    "email": "email",
    "zip": "zip",
}


class TypeformLeadSchema(LeadMappingSchema):
    """Typeform needs nothing beyond the shared gathering: answers are already keyed by ref."""


Schema = TypeformLeadSchema
