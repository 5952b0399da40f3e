"""Salesforce outbound-message records → Engage leads.

Default field map (field API names; Lead and Contact names side by side, the first that
resolves wins):

    externId   Id                                     (the sObject id, 15 or 18 characters)
    leadPhone  Phone, MobilePhone, HomePhone, OtherPhone   (primary first)
    firstName  FirstName        lastName  LastName        fullName  Name
    email      Email
    address1   Street | MailingStreet      city   City | MailingCity
    state      State | MailingState        zip    PostalCode | MailingPostalCode

Only the fields ticked in the outbound-message definition arrive; tick at least Id, the
phone fields and the names. Custom fields (`Lead_Score__c`) are reachable by `fields:` and
`when:` under their API names.
"""

from __future__ import annotations

from mappings.base import LeadMappingSchema

DEFAULT_FIELDS = {
    "externId": "Id",
    "leadPhone": ["Phone", "MobilePhone", "HomePhone", "OtherPhone"],
    "firstName": "FirstName",
    "lastName": "LastName",
    "fullName": "Name",
    "email": "Email",
    "address1": ["Street", "MailingStreet"],
    "city": ["City", "MailingCity"],
    "state": ["State", "MailingState"],
    "zip": ["PostalCode", "MailingPostalCode"],
}


class SalesforceLeadSchema(LeadMappingSchema):
    """Fields arrive flat by API name: the shared gathering does the rest."""


Schema = SalesforceLeadSchema
