"""Zoho records → Engage leads: the fixture's known answers, Zoho API names, -None-, overrides."""

import json
from urllib.parse import urlencode

from mappings import MappingError
from tests.mappings.crm_helpers import check_expected, fixture_request, leads, request

FORM = "application/x-www-form-urlencoded"


def test_fixture_expected():
    """camelCase parameter names resolve through the default map's candidates."""
    inbound, meta = fixture_request("zoho", "workflow_form_data.txt")
    [lead] = leads("zoho", inbound, tokens=[meta["auth"]["shared_token"]], token_field="token")
    check_expected(lead, meta["expected"])


def test_zoho_api_names():
    """First_Name / Last_Name / Phone / Mobile / Email / Zip_Code / id."""
    body = urlencode(
        {
            "id": "5725767000009999999",
            "First_Name": "Olu",
            "Last_Name": "Adébáyọ̀",
            "Phone": "+44 20 7946 0958",
            "Mobile": "07700 900123",
            "Email": "-None-",
            "Zip_Code": "SW1A 1AA",
            "Lead_Status": "-None-",
        }
    ).encode()
    [lead] = leads("zoho", request("zoho", body, FORM), default_region="GB")
    assert lead["externId"] == "5725767000009999999"
    assert lead["leadPhone"] == "+442079460958|+447700900123"
    assert "email" not in lead and lead["zip"] == "SW1A 1AA"


def test_json_numeric_id_and_zip_stay_strings():
    """Unquoted merge fields: the id keeps all its digits, a ZIP keeps its leading zero when quoted."""
    body = b'{"id": 5725767000001234567, "Phone": "(617) 555-0100", "Zip_Code": "02134", "Full_Name": "Ada Example"}'
    [lead] = leads("zoho", request("zoho", body))
    assert lead["externId"] == "5725767000001234567" and lead["zip"] == "02134"
    assert (lead["firstName"], lead["lastName"]) == ("Ada", "Example")


def test_custom_names_via_fields():
    """An admin's own parameter names, merged over the defaults."""
    body = urlencode({"rec": "57", "cell": "303.555.0142", "First_Name": "Ada"}).encode()
    [lead] = leads("zoho", request("zoho", body, FORM), fields={"externId": "rec", "leadPhone": "cell"})
    assert (lead["externId"], lead["leadPhone"], lead["firstName"]) == ("57", "3035550142", "Ada")


def test_batch_with_one_bad_record():
    """A JSON array: the unmappable record fails alone."""
    body = json.dumps([{"id": "1", "Phone": "3035550142"}, {"id": "2", "Phone": "-None-"}]).encode()
    good, bad = leads("zoho", request("zoho", body))
    assert good["externId"] == "1" and isinstance(bad, MappingError) and "leadPhone" in bad.errors
