"""Webflow end to end through POST /webhooks/<source>: signed fixture, bad signatures, stale clock, redelivery."""

from __future__ import annotations

import json

import pytest

from tests.builders import fixture_bytes, fixture_meta

BODY = fixture_bytes("webflow/form_submission.json")
META = fixture_meta("webflow/form_submission.json")
FIXTURE_NOW = 1768496645.123 + 2

CONFIG = """
defaults:
  campaign: "Inbound Leads"
sources:
  webflow:
    type: webflow
    secret: ["old-secret", "5f1d3b7e9a0c2e4f6a8b0d2f4e6a8c0e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a"]
    fields: {auxData1: Budget}
    routes:
      - when: {Budget: "$10k+"}
        priority: IMMEDIATE
        campaign: "Big Budgets"
    priority: NORMAL
"""


@pytest.fixture
def app(db_url, make_app):
    """The app with the clock frozen at the fixture's signing time."""
    application = make_app(CONFIG, db_url)
    application.extensions["leadrelay"].intake.clock = lambda: FIXTURE_NOW
    return application


def test_signed_submission_is_queued(app):
    """202, routed by a form field, and the stored lead is the fixture's lead."""
    client = app.test_client()
    response = client.post("/webhooks/webflow", data=BODY, headers=META["headers"])
    assert response.status_code == 202, response.json
    [entry] = response.json["leads"]
    assert entry["status"] == "queued" and entry["externId"] == "6789a1b2c3d4e5f601234567"
    assert entry["priority"] == "IMMEDIATE" and entry["campaign"] == "Big Budgets"
    stored = app.extensions["leadrelay"].queue.get(entry["lead_id"])
    assert stored["lead"] == {
        "externId": "6789a1b2c3d4e5f601234567",
        "leadPhone": "3035550142",
        "firstName": "Ada",
        "lastName": "Example",
        "email": "ada.example@example.com",
        "zip": "80202",
        "auxData1": "$10k+",
    }
    again = client.post("/webhooks/webflow", data=BODY, headers=META["headers"])
    assert again.status_code == 200 and again.json == {"event_id": response.json["event_id"], "duplicate": True}


@pytest.mark.parametrize(
    "mutate,reason",
    [
        (lambda h, b: (h, b.replace(b"Ada", b"Eve")), "invalid_signature"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "x-webflow-signature"}, b), "missing_signature"),
        (lambda h, b: ({k: v for k, v in h.items() if k != "x-webflow-timestamp"}, b), "missing_signature"),
        (lambda h, b: (dict(h, **{"x-webflow-timestamp": "1768496645124"}), b), "invalid_signature"),
    ],
)
def test_bad_signatures_are_401(app, mutate, reason):
    """Nothing stored, the reason in the body."""
    headers, body = mutate(dict(META["headers"]), BODY)
    response = app.test_client().post("/webhooks/webflow", data=body, headers=headers)
    assert response.status_code == 401 and response.json["error"] == reason


def test_stale_timestamp_is_401(app):
    """Ten minutes later the same signed request is refused."""
    app.extensions["leadrelay"].intake.clock = lambda: FIXTURE_NOW + 600
    response = app.test_client().post("/webhooks/webflow", data=BODY, headers=META["headers"])
    assert response.status_code == 401 and response.json["error"] == "stale_timestamp"


def test_undialable_submission_gets_2xx(app):
    """Webflow retries non-200: a submission without a phone is stored `invalid` and answered 202."""
    import hashlib
    import hmac

    body = json.dumps(
        {"triggerType": "form_submission", "payload": {"id": "np-1", "data": {"Email": "a@b.co"}}}
    ).encode()
    ts = "1768496645123"
    secret = b"5f1d3b7e9a0c2e4f6a8b0d2f4e6a8c0e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a"
    sig = hmac.new(secret, ts.encode() + b":" + body, hashlib.sha256).hexdigest()
    response = app.test_client().post(
        "/webhooks/webflow",
        data=body,
        headers={"Content-Type": "application/json", "x-webflow-timestamp": ts, "x-webflow-signature": sig},
    )
    assert response.status_code == 202
    assert response.json["leads"][0]["status"] == "invalid" and "leadPhone" in response.json["leads"][0]["reasons"]
