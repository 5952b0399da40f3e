"""Jotform end to end through POST /webhooks/<source>?token=…: stored lead, duplicates, auth, 2xx for invalid."""

import json

import pytest

from tests.builders import fixture_bytes, fixture_meta

BODY = fixture_bytes("jotform/submission_multipart.txt")
META = fixture_meta("jotform/submission_multipart.txt")

CONFIG = """
defaults:
  campaign: "Inbound Leads"
sources:
  jotform:
    type: jotform
    token: [jf-token-new, jf-token-old]
    routes:
      - when: {q7_howSoon: Today}
        priority: IMMEDIATE
        campaign: "Hot Inbound"
"""


@pytest.fixture
def client(make_app, db_url):
    """The app with a Jotform source, and its test client."""
    app = make_app(CONFIG, db_url)
    return app, app.test_client()


def post(client, body=BODY, token="jf-token-new"):
    """POST as Jotform does (multipart, secret in the URL)."""
    return client.post(f"/webhooks/jotform?token={token}", data=body, headers=META["headers"])


def test_fixture_is_stored_routed_and_deduplicated(client):
    """202 with the lead, routed by an answer; Jotform's retry of the same submission is a duplicate."""
    app, http = client
    response = post(http)
    assert response.status_code == 202, response.json
    entry = response.json["leads"][0]
    assert entry["externId"] == "5912345678901234567" and entry["priority"] == "IMMEDIATE"
    assert entry["campaign"] == "Hot Inbound" and entry["status"] == "queued"
    lead = app.extensions["leadrelay"].queue.get(entry["lead_id"])["lead"]
    assert lead == {
        "externId": "5912345678901234567",
        "leadPhone": "3035550142",
        "firstName": "Ada",
        "lastName": "Example",
        "email": "ada.example@example.com",
        "address1": "1600 Example St",
        "city": "Denver",
        "state": "CO",
        "zip": "80202",
    }
    again = post(http, token="jf-token-old")
    assert again.status_code == 200 and again.json == {"event_id": response.json["event_id"], "duplicate": True}


@pytest.mark.parametrize("token", ["wrong", ""])
def test_wrong_token_is_401(client, token):
    """No valid token: 401, nothing stored."""
    _, http = client
    response = post(http, token=token)
    assert response.status_code == 401 and response.json["error"] == "invalid_token"


def test_undialable_submission_gets_2xx(client):
    """No phone: stored `invalid`, answered 202 so Jotform has nothing to retry."""
    _, http = client
    raw = json.dumps({"q3_name": {"first": "Ada", "last": "Example"}, "q5_phoneNumber": {"full": ""}})
    body = BODY.replace(b"5912345678901234567", b"5912345678901234999")
    start = body.index(b'{"slug"')
    end = body.index(b"\r\n--", start) if b"\r\n--" in body[start:] else body.index(b"\n--", start)
    body = body[:start] + raw.encode() + body[end:]
    response = post(http, body=body)
    assert response.status_code == 202
    entry = response.json["leads"][0]
    assert entry["status"] == "invalid" and "leadPhone" in entry["reasons"]
