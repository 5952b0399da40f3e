"""Zoho CRM workflow-webhook records → Engage leads.

The parameter names are whatever the admin typed in the webhook's module parameters, so the
default map accepts Zoho's own API names and the usual camelCase ones (first that resolves):

    externId   id | Id | ID | Record_Id | Lead_Id | leadId | lead_id | Contact_Id | contactId | recordId
    leadPhone  Phone | phone, then Mobile | mobile        (primary first)
    firstName  First_Name | firstName | first_name       lastName  Last_Name | lastName | last_name
    fullName   Full_Name | fullName | name               email     Email | email
    address1   Street | street      city  City | city    state     State | state
    zip        Zip_Code | zip | Zip | zipCode | Mailing_Zip

Hot signals (`Lead_Status`, `Rating`, a score) are plain fields for `when:` under the names
you gave them. Name the id parameter anything else? Set `fields: {externId: <your name>}`.
"""

from __future__ import annotations

from handlers.zoho import ID_FIELDS
from mappings.base import LeadMappingSchema

DEFAULT_FIELDS = {
    "externId": list(ID_FIELDS),
    "leadPhone": ["Phone", "phone", "Mobile", "mobile"],
    "firstName": ["First_Name", "firstName", "first_name"],
    "lastName": ["Last_Name", "lastName", "last_name"],
    "fullName": ["Full_Name", "fullName", "name"],
    "email": ["Email", "email"],
    "address1": ["Street", "street"],
    "city": ["City", "city"],
    "state": ["State", "state"],
    "zip": ["Zip_Code", "zip", "Zip", "zipCode", "Mailing_Zip"],
}


class ZohoLeadSchema(LeadMappingSchema):
    """Zoho parameters arrive flat: the shared gathering does the rest."""


Schema = ZohoLeadSchema
