"""Google Forms end to end: the signed fixture through POST /webhooks/<source>, duplicates, 401, 422."""

import hashlib
import hmac
import json

import pytest

from tests.builders import fixture_bytes, fixture_meta

BODY = fixture_bytes("google_forms/apps_script_json.json")
META = fixture_meta("google_forms/apps_script_json.json")
SECRET = META["signature"]["secret"]

CONFIG = f"""
defaults:
  campaign: "Inbound Leads"
sources:
  google-forms:
    type: google_forms
    secret: [rotated-away, "{SECRET}"]
    fields:
      extendedLeadData: {{timeline: "How soon do you want a call?"}}
    routes:
      - when: {{"How soon do you want a call?": Today}}
        priority: IMMEDIATE
      - priority: NORMAL
"""


@pytest.fixture
def client(make_app, db_url):
    """The app with a google_forms source, and its test client."""
    app = make_app(CONFIG, db_url)
    return app, app.test_client()


def signed(body):
    """Headers as the Apps Script sends them."""
    return {
        "Content-Type": "application/json",
        "X-Form-Signature": "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest(),
    }


def test_signed_fixture_is_stored_and_deduplicated(client):
    """202 with the lead (IMMEDIATE by an answer); the script's retry is a 200 duplicate."""
    app, http = client
    response = http.post("/webhooks/google-forms", data=BODY, headers=META["headers"])
    assert response.status_code == 202, response.json
    entry = response.json["leads"][0]
    assert entry["externId"] == "2_ABaOnudEXAMPLEresponseID0123456789" and entry["priority"] == "IMMEDIATE"
    lead = app.extensions["leadrelay"].queue.get(entry["lead_id"])["lead"]
    assert lead == {
        "externId": "2_ABaOnudEXAMPLEresponseID0123456789",
        "leadPhone": "3035550142",
        "firstName": "Ada",
        "lastName": "Example",
        "email": "ada.example@example.com",
        "zip": "80202",
        "extendedLeadData": {"timeline": "Today"},
    }
    again = http.post("/webhooks/google-forms", data=BODY, headers=META["headers"])
    assert again.status_code == 200 and again.json["duplicate"] is True


def test_bad_signature_is_401(client):
    """A tampered body: 401 invalid_signature."""
    _, http = client
    response = http.post("/webhooks/google-forms", data=BODY.replace(b"Ada", b"Eve"), headers=META["headers"])
    assert response.status_code == 401 and response.json["error"] == "invalid_signature"


def test_no_phone_is_422_for_the_script_to_log(client):
    """retries = False: an undialable response is stored and answered 422 with the reason."""
    _, http = client
    body = json.dumps({"responseId": "R-nophone", "answers": {"First name": "Ada", "Phone": ""}}, indent=2).encode()
    response = http.post("/webhooks/google-forms", data=body, headers=signed(body))
    assert response.status_code == 422 and "leadPhone" in response.json["records"][0]["reasons"]
