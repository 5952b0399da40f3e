"""Pipedrive end to end: Basic auth, v1 and v2 persons queued, deletes never dial, deals fetched through the fake API."""

from __future__ import annotations

import json
import time

import pytest

from harness.fake_pipedrive import FakePipedrive
from store.schema import leads
from tests.builders import fixture_bytes, fixture_meta
from tests.intake.helpers import count
from tests.lanes import process_fixture

V1 = fixture_bytes("pipedrive/v1_added_person.json")
V2 = fixture_bytes("pipedrive/v2_create_person.json")
META = fixture_meta("pipedrive/v1_added_person.json")
HEADERS = META["headers"]
API_TOKEN = "pd-intake-token"

CONFIG = """
defaults:
  campaign: "Inbound Leads"
  suppress_within: 0
sources:
  pipedrive:
    type: pipedrive
    basic_auth: {{username: pipedrive-hook, password: "s3cr3t-Pa55!"}}
    api_token: {token}
    api_base_url: "{api}"
    routes:
      - when: {{"deal.value": {{gte: 1000}}}}
        priority: IMMEDIATE
      - priority: NORMAL
"""


@pytest.fixture
@process_fixture
def api():
    """The fake Pipedrive API with the person behind a deal."""
    with FakePipedrive(token=API_TOKEN) as fake:
        fake.add_person(4830, name="Grace Hopper", phones=[{"value": "(212) 555-0123", "primary": True}])
        yield fake


@pytest.fixture
def app(db_url, api, make_app):
    """The app pointed at the fake API."""
    return make_app(CONFIG.format(token=API_TOKEN, api=api.url), db_url)


@pytest.mark.parametrize(
    "body,extern,phones", [(V1, "4821", "3035550142|7205550117"), (V2, "4822", "+442079460958|2125550123")]
)
def test_person_events_are_queued(app, body, extern, phones):
    """202, one queued lead with the fixture's values; the redelivery is a duplicate."""
    client = app.test_client()
    response = client.post("/webhooks/pipedrive", data=body, headers=HEADERS)
    assert response.status_code == 202, response.json
    [entry] = response.json["leads"]
    assert entry["status"] == "queued" and entry["externId"] == extern
    assert app.extensions["leadrelay"].queue.get(entry["lead_id"])["lead"]["leadPhone"] == phones
    again = client.post("/webhooks/pipedrive", data=body, headers=HEADERS)
    assert again.status_code == 200 and again.json["duplicate"] is True


def test_delete_is_stored_never_dialed_and_answered_2xx(app):
    """A deleted.person is acknowledged (Pipedrive bans failing hooks) and stored as a cancel (cancel_when)."""
    body = json.dumps(
        {
            "meta": {
                "action": "deleted",
                "object": "person",
                "id": 4821,
                "webhook_id": "771234",
                "timestamp_micro": 1768496700000000,
            },
            "current": None,
            "event": "deleted.person",
            "previous": json.loads(V1)["current"],
            "retry": 0,
        }
    ).encode()
    response = app.test_client().post("/webhooks/pipedrive", data=body, headers=HEADERS)
    assert response.status_code == 202
    [entry] = response.json["leads"]
    assert entry["status"] == "cancelled" and entry["externId"] == "4821"
    assert count(app, leads, status="queued") == 0


def test_deal_is_fetched_and_delivered(app, api):
    """change.deal with person_id → `fetching` → person fetched → routed on the deal's value → delivered."""
    from app import start_dispatcher

    body = json.dumps(
        {
            "data": {"id": 77, "title": "Big deal", "value": 5000, "person_id": 4830},
            "previous": {"value": 10},
            "meta": {
                "action": "change",
                "entity": "deal",
                "entity_id": "77",
                "id": "evt-deal-1",
                "version": "2.0",
                "webhook_id": "771299",
                "attempt": 1,
            },
        }
    ).encode()
    response = app.test_client().post("/webhooks/pipedrive", data=body, headers=HEADERS)
    [entry] = response.json["leads"]
    assert response.status_code == 202 and entry["status"] == "fetching"
    queue = app.extensions["leadrelay"].queue
    start_dispatcher(app)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and queue.get(entry["lead_id"])["status"] in ("fetching", "queued", "sending"):
        time.sleep(0.05)
    row = queue.get(entry["lead_id"])
    assert row["status"] == "delivered", row
    assert row["lead"] == {"externId": "4830", "leadPhone": "2125550123", "firstName": "Grace", "lastName": "Hopper"}
    assert row["priority"] == "IMMEDIATE"
    assert api.requests[0] == {"path": "/api/v2/persons/4830", "token": API_TOKEN}


@pytest.mark.parametrize(
    "headers,reason",
    [
        ({"Content-Type": "application/json"}, "missing_credentials"),
        (
            {"Content-Type": "application/json", "Authorization": "Basic cGlwZWRyaXZlLWhvb2s6d3Jvbmc="},
            "invalid_credentials",
        ),
    ],
)
def test_bad_credentials_are_401(app, headers, reason):
    """Nothing stored; the reason in the body."""
    response = app.test_client().post("/webhooks/pipedrive", data=V1, headers=headers)
    assert response.status_code == 401 and response.json["error"] == reason
    assert count(app, leads) == 0
