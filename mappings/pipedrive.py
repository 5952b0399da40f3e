"""Pipedrive records → Engage leads.

Default field map (person fields as handlers/pipedrive.py lays them out, v1 and v2 alike):

    externId   id                      (the person id; for deal/lead events, the fetched person's)
    leadPhone  phone_values            (every phone, primary first)
    email      email_values.0          (the primary email)
    firstName  first_name              lastName  last_name     fullName  name
    city       postal_address_locality | postal_address.locality
    state      postal_address_admin_area_level_1 | postal_address.admin_area_level_1
    zip        postal_address_postal_code | postal_address.postal_code

address1 is not mapped by default: Pipedrive splits the street into number and route, and
its one-line `postal_address` repeats city and ZIP; map it with `fields:` if you want it.

Delete events never become leads, whatever `fields:` says: the mapping refuses them
(stored `invalid` with `event: delete events never dial`; list your events in `events:` to
have them stored `dropped` instead).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from handlers.pipedrive import DELETE_ACTIONS
from mappings.base import LeadMappingSchema

DEFAULT_FIELDS = {
    "externId": "id",
    "leadPhone": "phone_values",
    "email": "email_values.0",
    "firstName": "first_name",
    "lastName": "last_name",
    "fullName": "name",
    "city": ["postal_address_locality", "postal_address.locality"],
    "state": ["postal_address_admin_area_level_1", "postal_address.admin_area_level_1"],
    "zip": ["postal_address_postal_code", "postal_address.postal_code"],
}

# Lifecycle records (a deleted deal) name the person their leads carry as externId.
IDENTITY_FIELDS = {"externId": ["person_id", "id"]}


class PipedriveLeadSchema(LeadMappingSchema):
    """The shared gathering, except that a delete event is refused outright."""

    def gather(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """Refuse delete events before anything is read; otherwise gather as usual."""
        if data.get("action") in DELETE_ACTIONS:
            return {}, {"event": [f"{data.get('event') or 'delete'}: delete events never dial"]}
        return super().gather(data)


Schema = PipedriveLeadSchema
