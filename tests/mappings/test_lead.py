"""Tests for EngageLeadSchema, the validated outbound lead (lead/schema.py)."""

import pytest
from marshmallow import ValidationError

from lead.schema import EngageLeadSchema


def test_valid_lead_round_trip():
    """A complete lead loads; email is trimmed and lower-cased; zip stays a string."""
    lead = EngageLeadSchema().load(
        {
            "externId": "51234567",
            "leadPhone": "3035550142|+442079460958",
            "leadPhoneE164": "+13035550142",
            "firstName": "Ada",
            "email": "  Ada@Example.COM ",
            "zip": "02139",
            "auxData1": "x",
            "extendedLeadData": {"phoneExtension": "12"},
        }
    )
    assert lead["email"] == "ada@example.com" and lead["zip"] == "02139"


@pytest.mark.parametrize(
    "lead,field",
    [
        ({"leadPhone": "3035550142"}, "externId"),
        ({"externId": "", "leadPhone": "3035550142"}, "externId"),
        ({"externId": 5, "leadPhone": "3035550142"}, "externId"),
        ({"externId": "1"}, "leadPhone"),
        ({"externId": "1", "leadPhone": "303-555-0142"}, "leadPhone"),
        ({"externId": "1", "leadPhone": "3035550142|"}, "leadPhone"),
        ({"externId": "1", "leadPhone": "3035550142", "leadPhoneE164": "3035550142"}, "leadPhoneE164"),
        ({"externId": "1", "leadPhone": "3035550142", "email": "not-an-email"}, "email"),
        ({"externId": "1", "leadPhone": "3035550142", "zip": 2139}, "zip"),
        ({"externId": "1", "leadPhone": "3035550142", "extendedLeadData": {"a": 1}}, "extendedLeadData"),
        ({"externId": "1", "leadPhone": "3035550142", "dialPriority": "IMMEDIATE"}, "dialPriority"),
    ],
)
def test_invalid_leads_name_the_field(lead, field):
    """Each invalid lead is refused with an error on the offending field."""
    with pytest.raises(ValidationError) as info:
        EngageLeadSchema().load(lead)
    assert field in info.value.messages
