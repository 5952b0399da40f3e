"""The HTTP surface of intake: answers, statuses, and what is stored for each (real DBs, Flask client)."""

from __future__ import annotations

import json

import pytest

from store.schema import events, leads
from tests.builders import fixture_bytes, fixture_meta
from tests.intake.helpers import count

HUBSPOT_BODY = fixture_bytes("hubspot/workflow_contact_all_properties.json")
HUBSPOT_META = fixture_meta("hubspot/workflow_contact_all_properties.json")
FIXTURE_NOW = 1768496645.123 + 5

CONFIG = """
defaults:
  campaign: "Inbound Leads"
  suppress_within: 1h
sources:
  hubspot:
    type: hubspot
    client_secret: "8e2b4b4c-1f7a-4c3e-9d2a-5b6f7e8d9c0a"
    public_url: https://leads.example.com
    routes:
      - when: {hubspotscore: {gte: 80}}
        priority: IMMEDIATE
        campaign: "Hot Inbound"
      - when: {lifecyclestage: customer}
        drop: true
      - priority: NORMAL
  tokened:
    type: hubspot
    token: [old-token, new-token]
  typeform:
    type: typeform
    secret: tf_test_secret_9f8e7d6c5b4a
    priority: IMMEDIATE
  api:
    type: generic
    token: gen-token
    max_body: 2048
    event_id: event
    fields: {externId: id, leadPhone: [phone, mobile], fullName: name, zip: address.zip}
  crm:
    type: hubspot
    token: crm-token
    routes:
      - when: {lifecyclestage: customer}
        drop: true
  picky:
    type: hubspot
    token: t
    events: [contact.creation]
"""


@pytest.fixture
def app(make_app, db_url):
    """The app with the test config on a fresh database, clock frozen at the fixtures' time."""
    application = make_app(CONFIG, db_url)
    application.extensions["leadrelay"].intake.clock = lambda: FIXTURE_NOW
    return application


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


def hubspot_post(client, body=HUBSPOT_BODY, headers=None):
    """POST the signed HubSpot fixture to the URL it was signed for (suffix and query included)."""
    return client.post(
        "/webhooks/hubspot/workflow?list=hot%3Aleads&src=hs",
        data=body,
        headers=headers if headers is not None else HUBSPOT_META["headers"],
    )


def test_signed_hubspot_webhook_is_queued_immediate(app, client):
    """v3 signature over PUBLIC_URL + raw path/query verifies; score 87 routes IMMEDIATE to Hot Inbound."""
    response = hubspot_post(client)
    assert response.status_code == 202, response.json
    entry = response.json["leads"][0]
    assert entry["status"] == "queued" and entry["priority"] == "IMMEDIATE" and entry["campaign"] == "Hot Inbound"
    assert entry["externId"] == "51234567" and entry["sandbox"] is True
    lead = app.extensions["leadrelay"].queue.get(entry["lead_id"])
    assert lead["lead"]["leadPhone"] == "3035550142|7205550117"
    assert lead["record"]["hubspotscore"] == "87"


def test_v2_signature_alone(make_app, db_url):
    """With `legacy_signatures: true` and no v3 headers the v2 signature (secret + method + URI + body) is checked."""
    legacy = CONFIG.replace(
        "    public_url: https://leads.example.com\n",
        "    public_url: https://leads.example.com\n    legacy_signatures: true\n",
        1,
    )
    client = make_app(legacy, db_url).test_client()
    headers = {k: v for k, v in HUBSPOT_META["headers"].items() if "v3" not in k.lower() and "Timestamp" not in k}
    assert hubspot_post(client, headers=headers).status_code == 202


def test_redelivery_creates_no_second_lead(app, client):
    """The same event again: 200 duplicate with the original event id, one lead in the table."""
    first = hubspot_post(client)
    again = hubspot_post(client)
    assert again.status_code == 200
    assert again.json == {"event_id": first.json["event_id"], "duplicate": True}
    assert count(app, leads) == 1
    assert count(app, events) == 2  # the redelivery itself is kept for audit


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (
            lambda h, b: (dict(h, **{"X-HubSpot-Signature-v3": "B" + h["X-HubSpot-Signature-v3"][1:]}), b),
            "invalid_signature",
        ),
        (lambda h, b: (h, b.replace(b"Ada", b"Eve")), "invalid_signature"),
        (lambda h, b: ({"Content-Type": "application/json"}, b), "missing_signature"),
    ],
)
def test_bad_signatures_store_nothing(app, client, mutate, reason):
    """401 with the reason; no event and no lead stored."""
    headers, body = mutate(dict(HUBSPOT_META["headers"]), HUBSPOT_BODY)
    response = hubspot_post(client, body=body, headers=headers)
    assert response.status_code == 401 and response.json["error"] == reason
    assert count(app, events) == 0 and count(app, leads) == 0


def test_stale_timestamp(app, client):
    """The v3 window is 5 minutes."""
    app.extensions["leadrelay"].intake.clock = lambda: FIXTURE_NOW + 600
    response = hubspot_post(client)
    assert response.status_code == 401 and response.json["error"] == "stale_timestamp"


def test_token_rotation_header_and_query(client):
    """Either configured token works, as a header or ?token=; a wrong one is 401."""
    headers = {"Content-Type": "application/json"}
    assert (
        client.post(
            "/webhooks/tokened", data=HUBSPOT_BODY, headers={**headers, "X-Leadrelay-Token": "old-token"}
        ).status_code
        == 202
    )
    assert client.post("/webhooks/tokened?token=new-token", data=HUBSPOT_BODY, headers=headers).status_code == 200
    assert client.post("/webhooks/tokened?token=nope", data=HUBSPOT_BODY, headers=headers).status_code == 401


def test_unknown_source_and_size_limit(app, client):
    """404 names no configured source; 413 over the source's max_body."""
    response = client.post("/webhooks/nosuch", data=b"{}")
    assert response.status_code == 404 and response.json["error"] == "unknown_source"
    assert "hubspot" not in json.dumps(response.json) and "'nosuch'" in response.json["detail"]
    big = json.dumps({"id": "1", "phone": "3035550142", "pad": "x" * 4000})
    response = client.post(
        "/webhooks/api", data=big, headers={"X-Leadrelay-Token": "gen-token", "Content-Type": "application/json"}
    )
    assert response.status_code == 413 and response.json["error"] == "body_too_large"


def test_generic_unparseable_is_400_and_stored(app, client):
    """A developer-facing source answers 400 with the reason; the raw body is kept."""
    response = client.post(
        "/webhooks/api",
        data=b"{not json",
        headers={"X-Leadrelay-Token": "gen-token", "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.json["error"] == "malformed"
    assert count(app, events, status="malformed") == 1


def test_generic_unmappable_is_422_and_stored(app, client):
    """No dialable phone: 422 naming the field; the record is stored `invalid` for a later replay."""
    body = json.dumps({"id": "r1", "name": "Ada Example", "phone": "n/a"})
    response = client.post(
        "/webhooks/api", data=body, headers={"X-Leadrelay-Token": "gen-token", "Content-Type": "application/json"}
    )
    assert response.status_code == 422
    assert "leadPhone" in response.json["records"][0]["reasons"]
    assert count(app, leads, status="invalid") == 1 and count(app, events, status="invalid") == 1


def test_generic_form_body_and_full_name(app, client):
    """Form-encoded bodies map by field name; fullName splits when no first/last is given."""
    response = client.post(
        "/webhooks/api",
        data={"id": "f1", "name": "Grace Hopper", "phone": "(303) 555-0142", "event": "e-1"},
        headers={"X-Leadrelay-Token": "gen-token"},
    )
    assert response.status_code == 202, response.json
    lead = app.extensions["leadrelay"].queue.get(response.json["leads"][0]["lead_id"])["lead"]
    assert (lead["firstName"], lead["lastName"], lead["leadPhone"]) == ("Grace", "Hopper", "3035550142")


def test_retrying_sender_gets_2xx_for_invalid_records(app, client):
    """Typeform without a phone: 202 with an `invalid` status and reasons (Typeform must not retry or disable)."""
    meta = fixture_meta("typeform/form_response_no_phone.json")
    response = client.post(
        "/webhooks/typeform", data=fixture_bytes("typeform/form_response_no_phone.json"), headers=meta["headers"]
    )
    assert response.status_code == 202
    entry = response.json["leads"][0]
    assert entry["status"] == "invalid" and "leadPhone" in entry["reasons"]


def test_drop_route_and_suppression(app, client):
    """A `drop` route accepts without dialing; a CRM edit of the same contact before its load updates it."""
    body = json.loads(HUBSPOT_BODY)
    body["properties"]["lifecyclestage"]["value"] = "customer"
    body["properties"]["hubspotscore"]["value"] = "10"
    raw = json.dumps(body).encode()
    response = client.post(
        "/webhooks/tokened", data=raw, headers={"X-Leadrelay-Token": "new-token", "Content-Type": "application/json"}
    )
    assert response.json["leads"][0]["status"] == "queued"  # `tokened` has no drop route
    first = response.json["leads"][0]["lead_id"]
    body["properties"]["lastmodifieddate"]["value"] = "1768496699999"  # an edit: new key, same contact
    response = client.post(
        "/webhooks/tokened",
        data=json.dumps(body),
        headers={"X-Leadrelay-Token": "new-token", "Content-Type": "application/json"},
    )
    # Not loaded yet: the edit updates the one pending lead (store/updates.py), no second lead.
    assert response.status_code == 202 and response.json["leads"][0]["status"] == "queued"
    assert response.json["leads"][0]["lead_id"] == first and count(app, leads, source="tokened") == 1
    # `crm` drops customers: stored, answered, never dialed
    response = client.post(
        "/webhooks/crm", data=raw, headers={"X-Leadrelay-Token": "crm-token", "Content-Type": "application/json"}
    )
    assert response.status_code == 202 and response.json["leads"][0]["status"] == "dropped"
    assert count(app, leads, status="dropped") == 1


def test_events_filter(app, client):
    """A source's `events:` list stores other events as dropped, with the reason."""
    response = client.post(
        "/webhooks/picky", data=HUBSPOT_BODY, headers={"X-Leadrelay-Token": "t", "Content-Type": "application/json"}
    )
    assert response.status_code == 202 and response.json["leads"][0]["status"] == "dropped"


def test_health_ready_metrics(client):
    """Liveness, readiness (sandbox shown) and Prometheus metrics."""
    assert client.get("/healthz").json == {"status": "ok"}
    ready = client.get("/readyz").json
    assert ready["status"] == "ready" and ready["sandbox"] is True and ready["engage"] == "sandbox"
    hubspot_post(client)
    text = client.get("/metrics").get_data(as_text=True)
    assert 'leadrelay_webhooks_total{outcome="202",source="hubspot"}' in text
    assert "leadrelay_sandbox 1.0" in text


def test_admin_api(make_app, sqlite_url):
    """Admin needs the bearer token; lists leads, shows events, replays only replayable leads."""
    app = make_app(CONFIG, sqlite_url, ADMIN_TOKEN="adm")
    app.extensions["leadrelay"].intake.clock = lambda: FIXTURE_NOW
    client = app.test_client()
    lead_id = hubspot_post(client).json["leads"][0]["lead_id"]
    assert client.get("/admin/api/leads").status_code == 401
    auth = {"Authorization": "Bearer adm"}
    listing = client.get("/admin/api/leads", headers=auth).json
    assert listing["leads"][0]["id"] == lead_id and listing["counts"] == {"queued": 1}
    event = client.get(f"/admin/api/events/{listing['leads'][0]['event_id']}", headers=auth).json
    assert event["body"].startswith('{"vid"')
    assert client.post(f"/admin/api/leads/{lead_id}/replay", headers=auth).status_code == 409


def test_admin_disabled_without_token(client):
    """No ADMIN_TOKEN, no admin."""
    assert client.get("/admin/api/leads", headers={"Authorization": "Bearer x"}).status_code == 404


def test_disabled_source_answers_404_with_the_fix(make_app, sqlite_url):
    """A source switched off with `enabled: false` says so instead of looking like a typo in the URL."""
    app = make_app(
        "sources:\n  web:\n    type: generic\n    token: t\n  old:\n    type: hubspot\n"
        "    client_secret: ${UNSET_SECRET}\n    enabled: false\n",
        sqlite_url,
    )
    response = app.test_client().post("/webhooks/old", data=b"{}", headers={"X-Leadrelay-Token": "t"})
    assert response.status_code == 404
    assert response.json == {
        "error": "unknown_source",
        "detail": "source 'old' is disabled (`enabled: false`)",
        "hint": "remove `enabled: false` from sources.old in the config and restart",
    }
    assert count(app, events) == 0
