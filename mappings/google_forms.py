"""Google Forms responses → Engage leads; answers are keyed by question title, matched loosely.

Question titles are free text ("Phone", "Phone number:", "ZIP code"), so a name in the field
map that is not an exact key matches the first answer whose title is equal once both are
lower-cased and stripped of everything but letters and digits ("E-mail address" = "email
address"; not "Your phone"). Exact keys and dotted paths still win. This applies to
`fields:` too, so `leadPhone: "Best number to call"` finds "Best number to call?".

Default field map (question titles; `respondentEmail` is the address Google collected):

    externId   responseId
    leadPhone  Phone, Phone number, Mobile, Mobile number, Cell, Telephone   (primary first)
    firstName  First name, Given name      lastName  Last name, Surname, Family name
    fullName   Name, Full name, Your name  (split only when neither first nor last name resolves)
    email      respondentEmail, Email, Email address
    zip        ZIP, ZIP code, Postal code, Postcode
    address1   Address                     city  City           state  State
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mappings.base import LeadMappingSchema

DEFAULT_FIELDS = {
    "externId": "responseId",
    "leadPhone": ["Phone", "Phone number", "Mobile", "Mobile number", "Cell", "Telephone"],
    "firstName": ["First name", "Given name"],
    "lastName": ["Last name", "Surname", "Family name"],
    "fullName": ["Name", "Full name", "Your name"],
    "email": ["respondentEmail", "Email", "Email address"],
    "zip": ["ZIP", "ZIP code", "Postal code", "Postcode"],
    "address1": "Address",
    "city": "City",
    "state": "State",
}


def loose(title: str) -> str:
    """A title reduced to lower-case letters and digits (any script), for loose matching."""
    return "".join(ch for ch in title.casefold() if ch.isalnum())


def match_titles(field_map: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The field map with each name that is not an exact key replaced by a loosely equal title."""
    titles: dict[str, str] = {}
    for key in data:
        if isinstance(key, str):
            titles.setdefault(loose(key), key)  # the first of two near-identical titles wins

    def one(spec: Any) -> Any:
        """Resolve one spec (string or list); unknown names stay (dotted paths, error messages)."""
        if isinstance(spec, list):
            return [one(item) for item in spec]
        if not isinstance(spec, str) or spec in data:
            return spec
        return titles.get(loose(spec), spec) if loose(spec) else spec

    return {
        key: ({k: one(v) for k, v in spec.items()} if isinstance(spec, Mapping) else one(spec))
        for key, spec in field_map.items()
    }


class GoogleFormsLeadSchema(LeadMappingSchema):
    """The shared gathering after matching the field map to this response's titles."""

    # The field map is derived per record (and set on the instance), so each load needs its own schema.
    reusable = False

    def gather(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """Match titles loosely, then gather as usual."""
        self.field_map = match_titles(self.field_map, data)
        return super().gather(data)


Schema = GoogleFormsLeadSchema
