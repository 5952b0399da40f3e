"""Zoho end to end: the token in the form body, a JSON body with the token inside, 401s, routes on Zoho fields."""

from __future__ import annotations

import json

import pytest

from store.schema import leads
from tests.builders import fixture_bytes, fixture_meta
from tests.intake.helpers import count

BODY = fixture_bytes("zoho/workflow_form_data.txt")
META = fixture_meta("zoho/workflow_form_data.txt")
TOKEN = META["auth"]["shared_token"]

CONFIG = f"""
defaults:
  campaign: "Inbound Leads"
sources:
  zoho:
    type: zoho
    token: {TOKEN}
    token_field: token
    routes:
      - when: {{rating: Hot}}
        priority: IMMEDIATE
      - priority: NORMAL
"""


@pytest.fixture
def app(db_url, make_app):
    """The app with one Zoho source."""
    return make_app(CONFIG, db_url)


def test_form_fixture_is_queued_immediate(app):
    """The fixture (token in the body) → 202, one IMMEDIATE lead; the token is not in the stored record."""
    response = app.test_client().post("/webhooks/zoho", data=BODY, headers=META["headers"])
    assert response.status_code == 202, response.json
    [entry] = response.json["leads"]
    assert entry["status"] == "queued" and entry["priority"] == "IMMEDIATE"
    row = app.extensions["leadrelay"].queue.get(entry["lead_id"])
    assert row["lead"] == {
        "externId": "5725767000001234567",
        "leadPhone": "3035550142|7205550117",
        "firstName": "Ada",
        "lastName": "Example",
        "email": "ada.example@example.com",
        "zip": "80202",
    }
    assert "token" not in row["record"]


def test_json_with_token_inside_and_unmappable_is_2xx(app):
    """Raw JSON carrying the token: accepted; no phone → stored invalid, still 202 (a CRM sender)."""
    body = json.dumps({"id": 5725767000001234568, "First_Name": "Ada", "Phone": "-None-", "token": TOKEN})
    response = app.test_client().post("/webhooks/zoho", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 202
    assert response.json["leads"][0]["status"] == "invalid" and count(app, leads, status="invalid") == 1


@pytest.mark.parametrize(
    "body,headers,reason",
    [
        (BODY.replace(TOKEN.encode(), b"zt_wrong"), META["headers"], "invalid_token"),
        (
            json.dumps({"id": "1", "Phone": "3035550142"}).encode(),
            {"Content-Type": "application/json"},
            "missing_token",
        ),
        (json.dumps({"id": "1", "token": "nope"}).encode(), {"Content-Type": "application/json"}, "invalid_token"),
    ],
)
def test_bad_token_is_401(app, body, headers, reason):
    """Nothing stored; the reason in the body."""
    response = app.test_client().post("/webhooks/zoho", data=body, headers=headers)
    assert response.status_code == 401 and response.json["error"] == reason
    assert count(app, leads) == 0
