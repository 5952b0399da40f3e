"""HubSpot Webhooks API end to end: signed batch → three `fetching` leads → fetch pool → fake CRM API → delivered."""

from __future__ import annotations

import time

import pytest

from harness.fake_hubspot import FakeHubSpot
from tests.builders import fixture_bytes, fixture_meta
from tests.lanes import process_fixture

BODY = fixture_bytes("hubspot/webhooks_api_batch.json")
META = fixture_meta("hubspot/webhooks_api_batch.json")
FIXTURE_NOW = 1768496645.123 + 5
TOKEN = "pat-na1-intake"

CONFIG = """
defaults:
  campaign: "Inbound Leads"
  suppress_within: 0
sources:
  hubspot:
    type: hubspot
    client_secret: "{secret}"
    access_token: "{token}"
    api_base_url: "{api}"
    public_url: https://leads.example.com
    routes:
      - when: {{hubspotscore: {{gte: 80}}}}
        priority: IMMEDIATE
        campaign: "Hot Inbound"
      - priority: NORMAL
"""


@pytest.fixture
@process_fixture
def api():
    """The fake HubSpot CRM API with the batch's two contacts."""
    with FakeHubSpot(token=TOKEN) as fake:
        fake.add_contact(
            "51234567",
            firstname="Ada",
            lastname="Example",
            email="ada.example@example.com",
            phone="(303) 555-0142",
            zip="80202",
            hubspotscore="91",
        )
        fake.add_contact("51234890", firstname="Grace", lastname="Hopper", phone="+1 (415) 555-0188", hubspotscore="12")
        yield fake


@pytest.fixture
def app(db_url, api, make_app):
    """The app pointed at the fake API, clock frozen at the fixture's timestamp."""
    application = make_app(CONFIG.format(secret=META["signature"]["secret"], token=TOKEN, api=api.url), db_url)
    application.extensions["leadrelay"].intake.clock = lambda: FIXTURE_NOW
    return application


def wait_settled(queue, lead_ids, timeout=15.0):
    """Poll until every lead has left fetching/queued/sending."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = [queue.get(i) for i in lead_ids]
        if all(r["status"] not in ("fetching", "queued", "sending") for r in rows):
            return rows
        time.sleep(0.05)
    return [queue.get(i) for i in lead_ids]


def test_batch_is_fetched_mapped_routed_and_delivered(app, api):
    """202 with three `fetching` leads; each is fetched, mapped, routed by the fetched score and loaded."""
    from app import start_dispatcher

    client = app.test_client()
    response = client.post("/webhooks/hubspot/events", data=BODY, headers=META["headers"])
    assert response.status_code == 202, response.json
    entries = response.json["leads"]
    assert [e["status"] for e in entries] == ["fetching"] * 3
    queue = app.extensions["leadrelay"].queue
    assert queue.get(entries[1]["lead_id"])["record"]["propertyName"] == "hs_lead_status"

    start_dispatcher(app)
    first, second, third = wait_settled(queue, [e["lead_id"] for e in entries])
    assert first["status"] == "delivered", first
    assert first["lead"] == {
        "externId": "51234567",
        "leadPhone": "3035550142",
        "firstName": "Ada",
        "lastName": "Example",
        "email": "ada.example@example.com",
        "zip": "80202",
    }
    assert (first["priority"], first["campaign"]) == ("IMMEDIATE", "Hot Inbound")
    assert second["status"] == "delivered" and second["lead"]["externId"] == "51234567"
    assert third["status"] == "delivered" and third["priority"] == "NORMAL"
    assert third["lead"]["leadPhone"] == "4155550188" and third["lead"]["firstName"] == "Grace"
    assert first["record"]["event.subscriptionType"] == "contact.creation"
    assert all(r["authorization"] == f"Bearer {TOKEN}" for r in api.requests)

    again = client.post("/webhooks/hubspot/events", data=BODY, headers=META["headers"])
    assert again.status_code == 200 and again.json["duplicate"] is True


def test_missing_contact_settles_invalid(app, api):
    """A contact deleted before the fetch: 404 → `invalid` with the reason, not retried."""
    from app import start_dispatcher

    del api.contacts["51234890"]
    response = app.test_client().post("/webhooks/hubspot/events", data=BODY, headers=META["headers"])
    lead_id = response.json["leads"][2]["lead_id"]
    start_dispatcher(app)
    [row] = wait_settled(app.extensions["leadrelay"].queue, [lead_id])
    assert row["status"] == "invalid" and "404" in row["errors"]["fetch"][0]


@pytest.mark.parametrize(
    "change,reason",
    [
        ({"X-HubSpot-Signature-v3": "AAAA" + META["headers"]["X-HubSpot-Signature-v3"][4:]}, "invalid_signature"),
        ({"X-HubSpot-Request-Timestamp": str(int(FIXTURE_NOW * 1000) - 400_000)}, "stale_timestamp"),
    ],
)
def test_bad_signature_is_401(app, change, reason):
    """Nothing stored; the reason in the body."""
    response = app.test_client().post("/webhooks/hubspot/events", data=BODY, headers={**META["headers"], **change})
    assert response.status_code == 401 and response.json["error"] == reason
