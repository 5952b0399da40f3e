"""Dynamics end to end: WebhookKey and header auth, the Create fixture queued HOT by its option set, retries deduped."""

from __future__ import annotations

import json

import pytest

from store.schema import leads
from tests.builders import fixture_bytes, fixture_meta
from tests.intake.helpers import count

BODY = fixture_bytes("dynamics365/lead_create.json")
META = fixture_meta("dynamics365/lead_create.json")
KEY = META["auth"]["webhook_key"]

CONFIG = f"""
defaults:
  campaign: "Inbound Leads"
sources:
  dynamics:
    type: dynamics
    webhook_key: "{KEY}"
    routes:
      - when: {{"FormattedValues.leadqualitycode": Hot}}
        priority: IMMEDIATE
      - priority: NORMAL
  dyn-header:
    type: dynamics
    header: {{name: x-leadrelay-key, value: header-secret}}
"""


@pytest.fixture
def app(db_url, make_app):
    """The app with two Dataverse sources."""
    return make_app(CONFIG, db_url)


def test_create_fixture_is_queued_and_retry_deduped(app):
    """?code= auth; IMMEDIATE from the option label; the same context again is a duplicate."""
    client = app.test_client()
    response = client.post(f"/webhooks/dynamics?code={KEY}", data=BODY, headers=META["headers"])
    assert response.status_code == 202, response.json
    [entry] = response.json["leads"]
    assert entry["status"] == "queued" and entry["priority"] == "IMMEDIATE"
    assert entry["externId"] == "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
    lead = app.extensions["leadrelay"].queue.get(entry["lead_id"])["lead"]
    assert lead["leadPhone"] == "3035550142|7205550117" and lead["zip"] == "80202"
    again = client.post(f"/webhooks/dynamics?code={KEY}", data=BODY, headers=META["headers"])
    assert again.status_code == 200 and again.json["duplicate"] is True


def test_header_auth_and_delete_is_2xx_cancelled(app):
    """HttpHeader auth; a Delete message is a cancel (the default cancel_when), answered 202 (never a failed step)."""
    context = json.loads(BODY)
    context["MessageName"] = "Delete"
    response = app.test_client().post(
        "/webhooks/dyn-header",
        data=json.dumps(context),
        headers={"Content-Type": "application/json", "x-leadrelay-key": "header-secret"},
    )
    assert response.status_code == 202 and response.json["leads"][0]["status"] == "cancelled"


@pytest.mark.parametrize(
    "path,headers,reason",
    [
        ("/webhooks/dynamics", {}, "missing_token"),
        ("/webhooks/dynamics?code=wrong", {}, "invalid_token"),
        ("/webhooks/dyn-header", {"x-leadrelay-key": "wrong"}, "invalid_token"),
        ("/webhooks/dyn-header?code=header-secret", {}, "missing_token"),
    ],
)
def test_bad_key_is_401(app, path, headers, reason):
    """Nothing stored; the reason in the body."""
    response = app.test_client().post(path, data=BODY, headers={"Content-Type": "application/json", **headers})
    assert response.status_code == 401 and response.json["error"] == reason
    assert count(app, leads) == 0
