"""Salesforce records → Engage leads: the fixture's known answers, Contacts, overrides, odd values."""

import pytest

from mappings import MappingError, default_fields
from tests.mappings.crm_helpers import (
    CONTACT_BATCH,
    check_expected,
    envelope,
    fixture_request,
    leads,
    notification,
    request,
)


def test_fixture_expected():
    """outbound_lead_hot.xml: externId sf:Id, phones with the extension, names, email, zip."""
    inbound, meta = fixture_request("salesforce", "outbound_lead_hot.xml")
    [lead] = leads("salesforce", inbound)
    check_expected(lead, meta["expected"])
    assert (lead["address1"], lead["city"], lead["state"]) == ("1600 Example St", "Denver", "CO")


def test_contact_batch_uk_and_no_phone():
    """Contact fields (MailingPostalCode), UK numbers in E.164; a record without phones is invalid alone."""
    good, bad = leads("salesforce", request("salesforce", CONTACT_BATCH, "text/xml"), default_region="GB")
    assert good["externId"] == "0035e00000XyZaBCDE"
    assert good["leadPhone"] == "+442079460958|+447700900123" and good["leadPhoneE164"] == "+442079460958"
    assert good["zip"] == "SW1A 1AA" and good["lastName"] == "Adébáyọ̀"
    assert isinstance(bad, MappingError) and list(bad.errors) == ["leadPhone"]


def test_home_and_other_phones_and_duplicates():
    """HomePhone/OtherPhone follow; the same number twice is dialed once."""
    body = envelope(
        notification(
            "n1", "Contact", Id="003A", Phone="303-555-0142", HomePhone="(303) 555-0142", OtherPhone="1 720 555 0117"
        )
    )
    [lead] = leads("salesforce", request("salesforce", body, "text/xml"))
    assert lead["leadPhone"] == "3035550142|7205550117"


def test_name_only_and_mailing_address():
    """Name splits when no First/LastName; Mailing* for Contacts."""
    body = envelope(
        notification(
            "n1",
            "Contact",
            Id="003B",
            Name="Grace Brewster Hopper",
            Phone="3035550142",
            MailingStreet="1 Navy Way",
            MailingCity="Arlington",
            MailingState="VA",
            MailingPostalCode="02201",
        )
    )
    [lead] = leads("salesforce", request("salesforce", body, "text/xml"))
    assert (lead["firstName"], lead["lastName"]) == ("Grace", "Brewster Hopper")
    assert (lead["address1"], lead["city"], lead["state"], lead["zip"]) == ("1 Navy Way", "Arlington", "VA", "02201")


def test_fields_override_merges_over_defaults():
    """A custom phone field replaces leadPhone only; other defaults stay."""
    body = envelope(
        notification("n1", "Lead", Id="00Q1", Phone="3035550142", Callback_Phone__c="720-555-0117", FirstName="Ada")
    )
    [lead] = leads(
        "salesforce",
        request("salesforce", body, "text/xml"),
        fields={"leadPhone": ["Callback_Phone__c", "Phone"], "auxData1": "sObjectType"},
    )
    assert lead["leadPhone"] == "7205550117|3035550142" and lead["firstName"] == "Ada"
    assert lead["auxData1"] == "Lead"


def test_default_map_is_documented():
    """The default map the docs show."""
    assert default_fields("salesforce")["leadPhone"] == ["Phone", "MobilePhone", "HomePhone", "OtherPhone"]


@pytest.mark.parametrize("email,expected", [(" ADA@Example.COM ", "ada@example.com"), ("not-an-email", None)])
def test_email_cleanup(email, expected):
    """Trimmed and lower-cased; a malformed email is dropped, the lead kept."""
    body = envelope(notification("n1", "Lead", Id="00Q1", Phone="3035550142", Email=email))
    [lead] = leads("salesforce", request("salesforce", body, "text/xml"))
    assert lead.get("email") == expected
