"""Gravity Forms end to end: Bearer header from the feed, All Fields JSON, per-form maps, FORM format."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.builders import fixture_bytes, fixture_meta

BODY = fixture_bytes("gravityforms/all_fields_json.json")
META = fixture_meta("gravityforms/all_fields_json.json")

CONFIG = """
defaults:
  campaign: "Inbound Leads"
sources:
  gravityforms:
    type: gravityforms
    token: gf_demo_token_5b7c9d1e
    forms:
      "7": {leadPhone: "1", firstName: "2.3", lastName: "2.6", email: "5"}
    routes:
      - when: {"6": Hot}
        priority: IMMEDIATE
    priority: NORMAL
"""


@pytest.fixture
def app(db_url, make_app):
    """The app on a fresh database."""
    return make_app(CONFIG, db_url)


def test_all_fields_entry_is_queued(app):
    """202 with the Bearer header; routed by the entry's field 6; the stored lead is the fixture's lead."""
    client = app.test_client()
    response = client.post("/webhooks/gravityforms", data=BODY, headers=META["headers"])
    assert response.status_code == 202, response.json
    [entry] = response.json["leads"]
    assert entry["status"] == "queued" and entry["externId"] == "1287" and entry["priority"] == "IMMEDIATE"
    stored = app.extensions["leadrelay"].queue.get(entry["lead_id"])
    assert stored["lead"] == {
        "externId": "1287",
        "leadPhone": "3035550142",
        "firstName": "Ada",
        "lastName": "Example",
        "email": "ada.example@example.com",
        "address1": "1600 Example St",
        "address2": "Suite 200",
        "city": "Denver",
        "state": "Colorado",
        "zip": "80202",
    }
    again = client.post("/webhooks/gravityforms", data=BODY, headers=META["headers"])
    assert again.status_code == 200 and again.json["duplicate"] is True


def test_form_format_with_per_form_map(app):
    """Request Format FORM for form 7, token in X-Leadrelay-Token, mapped with that form's ids."""
    body = urlencode(
        {
            "id": "1301",
            "form_id": "7",
            "1": "+44 20 7946 0958",
            "2.3": "Siân",
            "2.6": "O'Brien",
            "5": "sian@example.co.uk",
        }
    )
    response = app.test_client().post(
        "/webhooks/gravityforms",
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded", "X-Leadrelay-Token": "gf_demo_token_5b7c9d1e"},
    )
    assert response.status_code == 202, response.json
    [entry] = response.json["leads"]
    stored = app.extensions["leadrelay"].queue.get(entry["lead_id"])
    assert stored["lead"]["leadPhone"] == "+442079460958" and stored["lead"]["firstName"] == "Siân"
    assert entry["priority"] == "NORMAL"


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/json"},
        {"Content-Type": "application/json", "Authorization": "Bearer wrong"},
        {"Content-Type": "application/json", "Authorization": "Basic Z2Y6Z2Y="},
    ],
)
def test_wrong_or_missing_token_is_401(app, headers):
    """Nothing stored without the feed's header."""
    response = app.test_client().post("/webhooks/gravityforms", data=BODY, headers=headers)
    assert response.status_code == 401 and response.json["error"] == "invalid_token"


def test_entry_without_phone_gets_2xx(app):
    """An undialable entry is stored `invalid` and answered 202, with the reason."""
    response = app.test_client().post(
        "/webhooks/gravityforms", data=b'{"id":"5","form_id":"3","2":"a@b.co"}', headers=META["headers"]
    )
    assert response.status_code == 202 and response.json["leads"][0]["status"] == "invalid"
