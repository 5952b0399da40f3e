"""Meta Lead Ads leads (fetched from the Graph API) → Engage leads.

Default field map (Lead Ads standard question names, laid flat by handlers/facebook.py):

    externId   leadgen_id
    leadPhone  phone_number                 (E.164 from Meta)
    firstName  first_name       lastName  last_name
    fullName   full_name                    (split only when neither first nor last name resolves)
    email      email            zip       zip_code | post_code
    address1   street_address   city      city          state  state

Custom questions keep Meta's slugified names (e.g. `when_would_you_like_to_be_contacted?`);
map them with `fields:` or test them in `routes`.
"""

from __future__ import annotations

from mappings.base import LeadMappingSchema

DEFAULT_FIELDS = {
    "externId": "leadgen_id",
    "leadPhone": "phone_number",
    "firstName": "first_name",
    "lastName": "last_name",
    "fullName": "full_name",
    "email": "email",
    "zip": ["zip_code", "post_code"],
    "address1": "street_address",
    "city": "city",
    "state": "state",
}


class FacebookLeadSchema(LeadMappingSchema):
    """Meta leads need nothing beyond the shared gathering: answers are already flat."""


Schema = FacebookLeadSchema
