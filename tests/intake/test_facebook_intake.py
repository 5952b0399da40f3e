"""Meta Lead Ads end to end: GET handshake, signed POST → `fetching`, fetch pool → fake Graph → delivered."""

from __future__ import annotations

import json
import time

import pytest

from harness.fake_graph import FakeGraph
from tests.builders import fixture_bytes, fixture_meta
from tests.lanes import process_fixture

BODY = fixture_bytes("facebook_leadads/leadgen_single.json")
META = fixture_meta("facebook_leadads/leadgen_single.json")
LEAD = json.loads(fixture_bytes("facebook_leadads/lead_graph_response_1234567890123456.json"))
PAGE_TOKEN = "EAAB-intake-page-token"

CONFIG = """
defaults:
  campaign: "Inbound Leads"
sources:
  meta:
    type: facebook
    app_secret: "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
    verify_token: "meta-verify-7c1e2f"
    page_access_token: "{token}"
    api_base_url: "{graph}"
    graph_version: v21.0
    routes:
      - when: {{"when_would_you_like_to_be_contacted?": today}}
        priority: IMMEDIATE
      - priority: NORMAL
"""


class ServedGraph(FakeGraph):
    """The fake Graph API with the address the fixture serves it at."""

    url: str


@pytest.fixture
@process_fixture
def graph():
    """The fake Graph API on a real loopback socket."""
    fake = ServedGraph(tokens={PAGE_TOKEN})
    fake.add_lead(LEAD)
    with fake.serve() as server:
        fake.url = server.url
        yield fake


@pytest.fixture
def app(db_url, graph, make_app):
    """The app pointed at the fake Graph API (db and fake first, so the dispatcher stops before they go)."""
    return make_app(CONFIG.format(token=PAGE_TOKEN, graph=graph.url), db_url)


def test_handshake_through_the_endpoint(app):
    """GET with the fixture's query echoes the challenge as text/plain; a wrong token is 403."""
    client = app.test_client()
    query = fixture_bytes("facebook_leadads/verify_handshake_query.txt").decode()
    response = client.get(f"/webhooks/meta?{query}")
    assert response.status_code == 200 and response.get_data(as_text=True) == "1158201444"
    assert response.mimetype == "text/plain"
    wrong = client.get("/webhooks/meta?" + query.replace("7c1e2f", "000000"))
    assert wrong.status_code == 403 and "1158201444" not in wrong.get_data(as_text=True)


def test_signed_leadgen_is_fetched_and_delivered(app, graph):
    """202 with a `fetching` lead; the fetch pool reads the Graph lead, maps it, routes it IMMEDIATE, loads it."""
    from app import start_dispatcher

    client = app.test_client()
    response = client.post("/webhooks/meta", data=BODY, headers=META["headers"])
    assert response.status_code == 202, response.json
    [entry] = response.json["leads"]
    assert entry["status"] == "fetching"
    queue = app.extensions["leadrelay"].queue
    stored = queue.get(entry["lead_id"])
    assert stored["status"] == "fetching" and stored["record"]["leadgen_id"] == "1234567890123456"

    start_dispatcher(app)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        stored = queue.get(entry["lead_id"])
        if stored["status"] not in ("fetching", "queued", "sending"):
            break
        time.sleep(0.05)
    assert stored["status"] == "delivered", stored
    assert stored["lead"] == {
        "externId": "1234567890123456",
        "leadPhone": "3035550142",
        "firstName": "Ada",
        "lastName": "Example",
        "email": "ada.example@example.com",
        "zip": "80202",
    }
    assert stored["priority"] == "IMMEDIATE"
    assert graph.requests[0].authorization == f"Bearer {PAGE_TOKEN}"

    again = client.post("/webhooks/meta", data=BODY, headers=META["headers"])
    assert again.status_code == 200 and again.json["duplicate"] is True


@pytest.mark.parametrize(
    "headers,reason",
    [
        ({"Content-Type": "application/json"}, "missing_signature"),
        ({"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=" + "0" * 64}, "invalid_signature"),
    ],
)
def test_bad_signature_is_401(app, headers, reason):
    """Nothing stored; the reason in the body."""
    response = app.test_client().post("/webhooks/meta", data=BODY, headers=headers)
    assert response.status_code == 401 and response.json["error"] == reason


def test_body_without_leadgen_is_stored_and_acknowledged(app):
    """Meta retries non-2xx for 36 h: a signed body with no leadgen change is stored `malformed`, answered 202."""
    import hashlib
    import hmac

    body = b'{"object":"page","entry":[{"id":"1","time":1,"changes":[{"field":"feed","value":{}}]}]}'
    signature = "sha256=" + hmac.new(b"0a1b2c3d4e5f60718293a4b5c6d7e8f9", body, hashlib.sha256).hexdigest()
    response = app.test_client().post(
        "/webhooks/meta", data=body, headers={"Content-Type": "application/json", "X-Hub-Signature-256": signature}
    )
    assert response.status_code == 202 and response.json["status"] == "malformed"
