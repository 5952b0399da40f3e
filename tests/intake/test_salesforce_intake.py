"""Salesforce end to end: the SOAP Ack for every stored message, 401 for a wrong org, per-record leads."""

from __future__ import annotations

import pytest

from store.schema import events, leads
from tests.builders import fixture_bytes, fixture_meta
from tests.intake.helpers import count
from tests.mappings.crm_helpers import CONTACT_BATCH, envelope, notification

BODY = fixture_bytes("salesforce/outbound_lead_hot.xml")
META = fixture_meta("salesforce/outbound_lead_hot.xml")
ACK = fixture_bytes("salesforce/ack_response.xml")
HEADERS = META["headers"]

CONFIG = """
defaults:
  campaign: "Inbound Leads"
sources:
  salesforce:
    type: salesforce
    organization_id: "00D5e000000AbCd"
    routes:
      - when: {Rating: Hot}
        priority: IMMEDIATE
        campaign: "Hot Inbound"
      - priority: NORMAL
  sf-token:
    type: salesforce
    organization_id: "00D5e000000AbCdEAK"
    token: sf-url-token
    default_region: GB
"""


@pytest.fixture
def app(db_url, make_app):
    """The app with two Salesforce sources."""
    return make_app(CONFIG, db_url)


def assert_ack(response):
    """HTTP 200, text/xml, the Ack envelope byte for byte."""
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert response.get_data() == ACK


def test_hot_lead_is_acked_and_queued(app):
    """The fixture: Ack, one IMMEDIATE lead with the fixture's values."""
    client = app.test_client()
    response = client.post("/webhooks/salesforce/outbound", data=BODY, headers=HEADERS)
    assert_ack(response)
    [row] = app.extensions["leadrelay"].queue.list(source="salesforce")
    assert row["status"] == "queued" and (row["priority"], row["campaign"]) == ("IMMEDIATE", "Hot Inbound")
    lead = app.extensions["leadrelay"].queue.get(row["id"])["lead"]
    assert lead["externId"] == "00Q5e00000AbCdEFGH" and lead["leadPhone"] == "3035550142|7205550117"
    assert lead["extendedLeadData"] == {"phoneExtension": "12"}
    # Salesforce redelivers the same notification: still the Ack, nothing new stored.
    assert_ack(client.post("/webhooks/salesforce/outbound", data=BODY, headers=HEADERS))
    assert count(app, leads) == 1


def test_batch_with_an_undialable_record_is_acked(app):
    """Two notifications: one queued, one invalid — and Salesforce still gets its Ack."""
    response = app.test_client().post("/webhooks/sf-token?token=sf-url-token", data=CONTACT_BATCH, headers=HEADERS)
    assert_ack(response)
    assert count(app, leads, status="queued") == 1 and count(app, leads, status="invalid") == 1


def test_all_invalid_is_acked(app):
    """Every record undialable: stored invalid, Ack anyway."""
    body = envelope(notification("n1", "Lead", Id="00Q1", FirstName="NoPhone"))
    assert_ack(app.test_client().post("/webhooks/salesforce", data=body, headers=HEADERS))
    assert count(app, leads, status="invalid") == 1


def test_other_org_with_token_is_stored_not_dialed(app):
    """Right token, another org: stored malformed, acknowledged, no lead."""
    body = BODY.replace(b"00D5e000000AbCdEAK", b"00D5e000000ZzZzEAK")
    assert_ack(app.test_client().post("/webhooks/sf-token?token=sf-url-token", data=body, headers=HEADERS))
    assert count(app, events, status="malformed") == 1 and count(app, leads) == 0


def test_malformed_with_token_is_stored_and_acked(app):
    """With a URL token, even an unreadable (or XXE) body is stored `malformed` and acknowledged."""
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><notifications>&e;</notifications>'
    )
    assert_ack(app.test_client().post("/webhooks/sf-token?token=sf-url-token", data=xxe, headers=HEADERS))
    assert count(app, events, status="malformed") == 1 and count(app, leads) == 0


@pytest.mark.parametrize(
    "path,body,reason",
    [
        ("/webhooks/salesforce", BODY.replace(b"00D5e000000AbCdEAK", b"00D5e000000ZzZzEAK"), "invalid_organization"),
        ("/webhooks/salesforce", b"<not xml", "missing_organization"),
        ("/webhooks/sf-token?token=wrong", BODY, "invalid_token"),
        ("/webhooks/sf-token", BODY, "missing_token"),
    ],
)
def test_auth_failures_stay_401(app, path, body, reason):
    """A wrong org (or no readable org without a token) is a 401, not an Ack: nothing stored."""
    response = app.test_client().post(path, data=body, headers=HEADERS)
    assert response.status_code == 401 and response.json["error"] == reason
    assert count(app, events) == 0
