"""Dynamics 365 / Dataverse records → Engage leads.

Default field map (column logical names of lead and contact; the first that resolves wins):

    externId   PrimaryEntityId                       (the row's GUID)
    leadPhone  telephone1, mobilephone, telephone2, telephone3   (primary first)
    firstName  firstname        lastName  lastname        fullName  fullname
    email      emailaddress1 | emailaddress2
    address1   address1_line1   city      address1_city
    state      address1_stateorprovince                   zip       address1_postalcode

Option sets arrive as numbers (`leadqualitycode: 1`) and their labels under
`FormattedValues.<name>` (`FormattedValues.leadqualitycode: Hot`); both work in `when:`.
A Delete message never becomes a lead (stored `invalid`: `event: Delete messages never dial`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mappings.base import LeadMappingSchema

DEFAULT_FIELDS = {
    "externId": "PrimaryEntityId",
    "leadPhone": ["telephone1", "mobilephone", "telephone2", "telephone3"],
    "firstName": "firstname",
    "lastName": "lastname",
    "fullName": "fullname",
    "email": ["emailaddress1", "emailaddress2"],
    "address1": "address1_line1",
    "city": "address1_city",
    "state": "address1_stateorprovince",
    "zip": "address1_postalcode",
}


class DynamicsLeadSchema(LeadMappingSchema):
    """The shared gathering, except that a Delete message is refused outright."""

    def gather(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """Refuse Delete messages before anything is read; otherwise gather as usual."""
        if data.get("MessageName") == "Delete":
            return {}, {"event": ["Delete messages never dial"]}
        return super().gather(data)


Schema = DynamicsLeadSchema
