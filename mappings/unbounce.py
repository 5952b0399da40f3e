"""Unbounce submissions → Engage leads.

Unbounce field ids come from the page builder (`first_name`, `phone_number`, or ids made up
by the author), so every top-level field is also reachable by its squashed name (lower-cased,
only letters and digits: `Phone Number` → `phonenumber`), as for Webflow.

Default field map:

    externId   ub_submission_id         (synthesized by handlers/unbounce.py; Unbounce sends no id)
    leadPhone  phonenumber, phone, mobile, mobilephone   (primary first)
    firstName  firstname                lastName  lastname
    fullName   name, fullname           (split only when neither first nor last name resolves)
    email      email, emailaddress      zip       zipcode, zip, postalcode, postcode
    address1   address, streetaddress   city      city          state  state
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mappings.base import LeadMappingSchema
from mappings.webflow import with_squashed_names

DEFAULT_FIELDS = {
    "externId": "ub_submission_id",
    "leadPhone": ["phonenumber", "phone", "mobile", "mobilephone"],
    "firstName": "firstname",
    "lastName": "lastname",
    "fullName": ["name", "fullname"],
    "email": ["email", "emailaddress"],
    "zip": ["zipcode", "zip", "postalcode", "postcode"],
    "address1": ["address", "streetaddress"],
    "city": "city",
    "state": "state",
}


class UnbounceLeadSchema(LeadMappingSchema):
    """Gather from the record with squashed aliases added."""

    def gather(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """The shared gathering over the record plus its squashed names."""
        return super().gather(with_squashed_names(data))


Schema = UnbounceLeadSchema
