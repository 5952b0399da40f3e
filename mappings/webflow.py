"""Webflow form submissions → Engage leads.

Webflow's `data` keys are whatever the designer typed ("First Name", "phone", "E-mail"), so
besides its exact name every top-level field is also reachable by its squashed name:
lower-cased with everything but letters and digits removed ("First Name" → `firstname`).
The defaults use squashed names; a `fields:` value may use either form.

Default field map:

    externId   id                       (payload.id, the submission id)
    leadPhone  phone, phonenumber, mobile, mobilephone   (primary first; JSON numbers accepted)
    firstName  firstname                lastName  lastname
    fullName   name, fullname           (split only when neither first nor last name resolves)
    email      email, emailaddress      zip       zip, zipcode, postalcode, postcode
    address1   address, streetaddress   city      city          state  state
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mappings.base import LeadMappingSchema

DEFAULT_FIELDS = {
    "externId": "id",
    "leadPhone": ["phone", "phonenumber", "mobile", "mobilephone"],
    "firstName": "firstname",
    "lastName": "lastname",
    "fullName": ["name", "fullname"],
    "email": ["email", "emailaddress"],
    "zip": ["zip", "zipcode", "postalcode", "postcode"],
    "address1": ["address", "streetaddress"],
    "city": "city",
    "state": "state",
}

_NOT_ALNUM = re.compile(r"[\W_]+", re.UNICODE)


def squash(name: str) -> str:
    """A field name lower-cased with spaces, dashes, underscores and punctuation removed."""
    return _NOT_ALNUM.sub("", name).casefold()


def with_squashed_names(data: Mapping[str, Any]) -> dict[str, Any]:
    """The record plus each top-level key's squashed alias (an exact key always wins; first alias wins)."""
    out = dict(data)
    for key, value in data.items():
        if isinstance(key, str):
            out.setdefault(squash(key), value)
    return out


class WebflowLeadSchema(LeadMappingSchema):
    """Gather from the record with squashed aliases added, so designer spellings all resolve."""

    def gather(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """The shared gathering over the record plus its squashed names."""
        return super().gather(with_squashed_names(data))


Schema = WebflowLeadSchema
