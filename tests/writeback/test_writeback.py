"""Write-back handlers against the CRM fakes: the documented request, 429 Retry-After, outages, unknown fates found again."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from crm import hubspot, salesforce, webhook
from harness.fake_hubspot import FakeHubSpot
from harness.fake_salesforce import FakeSalesforce
from harness.webhook_receiver import WebhookReceiver
from tests.builders import DATA
from tests.lanes import process_fixture

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOKEN = "pat-na1-test"


def recorded(name: str) -> dict:
    """A recorded request/response shape from tests/data/writeback."""
    return json.loads((DATA / "writeback" / f"{name}.json").read_text())


def payload(**attempt) -> Any:
    """An attempt's write-back payload as the outbox holds it."""
    base = {
        "attempt_id": 41,
        "uii": "202612071503340136000000000123",
        "disposition": "Sale",
        "system_disposition": "ANSWER",
        "call_start": "2026-12-07 15:03:34.0000",
        "duration": 47,
        "agent": "ada.agent@example.com",
        "recording_url": "https://recordings.example.com/r/123.wav",
        "attempt_at": 1796684400.0,
        "connected": True,
        "final": True,
    }
    return {
        "lead": {"lead_id": 7, "externId": "51234567", "phone": "3035550142", "source": "hubspot", "campaign": "Hot"},
        "attempt": {**base, **attempt},
        "lead_ids": [7],
    }


@pytest.fixture
def session():
    """One requests session, closed afterwards."""
    with requests.Session() as s:
        yield s


# ---------------------------------------------------------------------------------------- HubSpot


@pytest.fixture
@process_fixture
def crm():
    """A HubSpot fake with the contact the lead came from."""
    with FakeHubSpot(token=TOKEN) as api:
        api.add_contact("51234567", firstname="Ada")
        yield api


def hs_settings(api, **extra):
    """Write-back settings for the fake."""
    return {"access_token": TOKEN, "api_base_url": api.url, "timeout": 2.0, **extra}


@pytest.mark.process
def test_hubspot_sends_exactly_the_documented_requests(crm, session):
    """Create-call then the contact property: method, path, headers and body as recorded from the reference."""
    outcome = hubspot.deliver(payload(), hs_settings(crm, disposition_property="last_call_outcome"), session)
    assert outcome.state == "sent", outcome
    create, patch = crm.requests
    for sent, shape in ((create, recorded("hubspot_create_call")), (patch, recorded("hubspot_contact_property"))):
        want = shape["request"]
        assert (sent["method"], sent["path"]) == (want["method"], want["path"])
        assert sent["authorization"] == want["headers"]["Authorization"].replace("{{token}}", TOKEN)
        assert sent["content_type"] == want["headers"]["Content-Type"]
        assert sent["json"] == want["json"]
    (call_id,) = crm.calls
    assert outcome.result == {"call_id": call_id}
    assert crm.contacts["51234567"]["last_call_outcome"] == "Sale"


@pytest.mark.process
def test_hubspot_unknown_fate_is_found_again_not_duplicated(crm, session):
    """The answer to a created call is lost (timeout): the next try searches first and creates nothing new."""
    settings = hs_settings(crm, timeout=0.5)
    crm.hang_after_create(1.5)
    first = hubspot.deliver(payload(), settings, session)
    assert first.state == "unknown" and len(crm.calls) == 1
    again = hubspot.deliver(payload(), settings, session, look_first=True)
    assert again.state == "sent" and again.result == {"call_id": next(iter(crm.calls))}
    assert len(crm.calls) == 1
    search = [r for r in crm.requests if r["path"].endswith("/search")]
    assert search[0]["json"] == recorded("hubspot_search_call")["request"]["json"]


@pytest.mark.process
def test_hubspot_429_retry_after_is_honoured(crm, session):
    """A 429 asks for a retry after exactly the header's seconds; nothing is created."""
    crm.fail_with(429, retry_after="7")
    outcome = hubspot.deliver(payload(), hs_settings(crm), session)
    assert (outcome.state, outcome.after, outcome.cause) == ("retry", 7.0, "throttled") and crm.calls == {}


@pytest.mark.process
def test_hubspot_outage_is_retried_then_delivered_once(crm, session):
    """HubSpot down (connection refused): retry; back up: one call, even though every try after the first looks first."""
    crm.server.stop()
    down = hubspot.deliver(payload(), hs_settings(crm), session)
    assert (down.state, down.cause) == ("retry", "down")
    crm.server.start()
    up = hubspot.deliver(payload(), hs_settings(crm), session, look_first=True)
    assert up.state == "sent" and len(crm.calls) == 1


@pytest.mark.process
def test_hubspot_refusal_is_final_and_a_lead_without_contact_fails_at_once(crm, session):
    """A 400 (an unknown contact) is no retry; no externId means no request at all."""
    wrong = payload()
    wrong["lead"]["externId"] = "999"
    assert hubspot.deliver(wrong, hs_settings(crm), session).state == "failed"
    none = payload()
    none["lead"]["externId"] = None
    count = len(crm.requests)
    assert hubspot.deliver(none, hs_settings(crm), session).state == "failed" and len(crm.requests) == count


@pytest.mark.process
def test_hubspot_recording_link_only_when_https(crm, session):
    """An http recording link is not passed on as a link (property nor body)."""
    hubspot.deliver(payload(recording_url="http://recordings.example.com/r/1.wav"), hs_settings(crm), session)
    (call,) = crm.calls.values()
    assert "hs_call_recording_url" not in call["properties"] and "Recording:" not in call["properties"]["hs_call_body"]


# ------------------------------------------------------------------------------------- Salesforce

WHO = "00Q5e00000AbCdEFGH"


@pytest.fixture
@process_fixture
def org():
    """A Salesforce fake with the Lead the record came from; token cache cleared around the test."""
    salesforce.forget_tokens()
    with FakeSalesforce(client_id="cid", client_secret="csecret") as fake:
        fake.add_who(WHO)
        yield fake
    salesforce.forget_tokens()


def sf_settings(fake, **extra):
    """Client-credentials settings for the fake org."""
    return {"login_url": fake.url, "client_id": "cid", "client_secret": "csecret", "timeout": 2.0, **extra}


def sf_payload(**attempt):
    """The payload of a lead that came from Salesforce."""
    p = payload(**attempt)
    p["lead"]["externId"] = WHO
    return p


@pytest.mark.process
def test_salesforce_sends_exactly_the_documented_requests(org, session):
    """Token by client credentials, then the Task: method, path, headers and body as recorded."""
    outcome = salesforce.deliver(sf_payload(), sf_settings(org), session)
    assert outcome.state == "sent", outcome
    token, create = org.requests
    want_token = recorded("salesforce_token")["request"]
    assert (token["method"], token["path"]) == (want_token["method"], want_token["path"])
    assert token["content_type"] == want_token["content_type"]
    assert token["form"] == {"grant_type": "client_credentials", "client_id": "cid", "client_secret": "csecret"}
    want = recorded("salesforce_create_task")["request"]
    assert (create["method"], create["path"], create["json"]) == (want["method"], want["path"], want["json"])
    assert create["authorization"].startswith("Bearer 00D") and create["content_type"] == "application/json"
    (task_id,) = org.tasks
    assert outcome.result == {"task_id": task_id}


@pytest.mark.process
def test_salesforce_unknown_fate_is_found_again_by_call_object(org, session):
    """A lost answer: the next try queries by CallObject (the recorded SOQL) and creates no second Task."""
    org.hang_after_create(1.5)
    first = salesforce.deliver(sf_payload(), sf_settings(org, timeout=0.5), session)
    assert first.state == "unknown" and len(org.tasks) == 1
    again = salesforce.deliver(sf_payload(), sf_settings(org), session, look_first=True)
    assert again.state == "sent" and len(org.tasks) == 1
    query = next(r for r in org.requests if r["path"].endswith("/query"))
    assert query["args"] == recorded("salesforce_query_task")["request"]["args"]


@pytest.mark.process
def test_salesforce_expired_session_gets_a_new_token(org, session):
    """A 401 drops the cached token and asks for a prompt retry, which logs in again and succeeds."""
    assert salesforce.deliver(sf_payload(attempt_id=1), sf_settings(org), session).state == "sent"
    org.expire_tokens()
    expired = salesforce.deliver(sf_payload(attempt_id=2), sf_settings(org), session)
    assert expired.state == "retry" and expired.after == 1.0
    assert salesforce.deliver(sf_payload(attempt_id=2), sf_settings(org), session, look_first=True).state == "sent"
    assert len(org.tasks) == 2 and sum(r["path"] == "/services/oauth2/token" for r in org.requests) == 2


@pytest.mark.process
def test_salesforce_limits_and_refusals(org, session):
    """REQUEST_LIMIT_EXCEEDED waits (limit_wait); a 503 with Retry-After waits that long; a bad WhoId fails at once."""
    org.fail_with(403, body=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}])
    limited = salesforce.deliver(sf_payload(), sf_settings(org, limit_wait=120), session)
    assert (limited.state, limited.after) == ("retry", 120.0)
    org.fail_with(503, retry_after="30")
    assert salesforce.deliver(sf_payload(), sf_settings(org), session).after == 30.0
    org.fail_with(None)
    bad = payload()  # a HubSpot contact id is not a Salesforce WhoId
    assert salesforce.deliver(bad, sf_settings(org), session).state == "failed" and org.tasks == {}


@pytest.mark.process
def test_salesforce_wrong_credentials_wait_for_a_person(org, session):
    """invalid_client is retried slowly (the job is kept), never dropped."""
    outcome = salesforce.deliver(sf_payload(), {**sf_settings(org), "client_secret": "wrong"}, session)
    assert outcome.state == "retry" and outcome.after == 300.0 and "invalid_client" in outcome.detail


# ----------------------------------------------------------------------------- Standard Webhooks


@pytest.mark.process  # a webhook receiver on loopback
def test_generic_webhook_verifies_with_the_library_on_every_retry(session):
    """Two tries of one attempt: the same webhook-id, each its own timestamp, both verified by standardwebhooks."""
    with WebhookReceiver() as receiver:
        settings = {"webhook": receiver.url, "secret": SECRET, "timeout": 2.0}
        receiver.answer_with(503)
        first = webhook.deliver(payload(), settings, session, now=time.time() - 60)
        assert first.state == "retry"
        receiver.answer_with(204)
        second = webhook.deliver(payload(), settings, session, now=time.time())
        assert second.state == "sent"
    one, two = receiver.received
    assert one["headers"]["Webhook-Id"] == two["headers"]["Webhook-Id"] == "msg_leadrelay_41"
    assert one["headers"]["Webhook-Timestamp"] != two["headers"]["Webhook-Timestamp"]
    verifier = Webhook(SECRET)
    for request in (one, two):
        headers = {k.lower(): v for k, v in request["headers"].items()}
        assert verifier.verify(request["body"], headers) == webhook.body(payload())
    assert json.loads(two["body"]) == {
        "externId": "51234567",
        "phone": "3035550142",
        "source": "hubspot",
        "campaign": "Hot",
        "uii": "202612071503340136000000000123",
        "disposition": "Sale",
        "system_disposition": "ANSWER",
        "call_start": "2026-12-07 15:03:34.0000",
        "duration": 47,
        "agent": "ada.agent@example.com",
        "final": True,
        "attempt_id": 41,
    }


def test_generic_webhook_signature_is_not_vacuous(session):
    """A tampered body or another secret fails the library's verification."""
    data, headers = webhook.signed_request(payload(), SECRET, time.time())
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(data.replace(b"Sale", b"Lost"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(data, headers)
    stamp = datetime.fromtimestamp(int(headers["webhook-timestamp"]), tz=UTC)
    assert headers["webhook-signature"] == Webhook(SECRET).sign("msg_leadrelay_41", stamp, data.decode())


@pytest.mark.process  # a webhook receiver on loopback
def test_generic_webhook_429_and_gone(session):
    """429 with Retry-After waits that long; 410 Gone stops for good."""
    with WebhookReceiver() as receiver:
        settings = {"webhook": receiver.url, "secret": SECRET, "timeout": 2.0}
        receiver.answer_with(429, retry_after="12")
        assert webhook.deliver(payload(), settings, session, now=time.time()).after == 12.0
        receiver.answer_with(410)
        assert webhook.deliver(payload(), settings, session, now=time.time()).state == "failed"
