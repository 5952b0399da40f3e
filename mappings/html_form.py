"""Plain HTML form posts → Engage leads; a filled honeypot is refused so it never dials.

Default field map (the form's `name` attributes; see handlers/html_form.py):

    externId   _id                    (server-generated "web-<hash>"; map a hidden input to use your own)
    leadPhone  phone, tel, mobile     (primary first; a repeated name gives several numbers)
    firstName  first_name             lastName  last_name
    fullName   name, full_name        (split only when neither first nor last name resolves)
    email      email                  zip       zip, postal_code
    address1   address                city      city          state  state
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.html_form import HONEYPOT_MARK, ID_FIELD, PHONE_FIELDS
from mappings.base import LeadMappingSchema

DEFAULT_FIELDS = {
    "externId": ID_FIELD,
    "leadPhone": list(PHONE_FIELDS),
    "firstName": "first_name",
    "lastName": "last_name",
    "fullName": ["name", "full_name"],
    "email": "email",
    "zip": ["zip", "postal_code"],
    "address1": "address",
    "city": "city",
    "state": "state",
}


class HtmlFormLeadSchema(LeadMappingSchema):
    """The shared gathering, plus: a record caught by the honeypot is never a lead."""

    def gather(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """Gather as usual; add a `honeypot` error when the handler marked the record as spam."""
        lead, errors = super().gather(data)
        if data.get(HONEYPOT_MARK) is True:
            # Stored `invalid` (kept for audit, never dialed); the reply hook still thanks the bot.
            errors["honeypot"] = ["the honeypot field was filled: treated as spam, not dialed"]
        return lead, errors


Schema = HtmlFormLeadSchema
