"""Twilio end to end: a signed inbound SMS is stored and answered with empty TwiML; a message that is
not an opt-out is stored `dropped`, never a lead; a bad signature stores nothing."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import pytest
from sqlalchemy import select

from handlers.twilio import EMPTY_TWIML, signature
from store.schema import events, leads
from tests.builders import fixture_bytes, fixture_meta
from tests.intake.helpers import count

BODY = fixture_bytes("twilio/inbound_sms_stop.txt")
META = fixture_meta("twilio/inbound_sms_stop.txt")
TOKEN = META["signature"]["secret"]

CONFIG = f"""
defaults:
  campaign: "Inbound Leads"
sources:
  twilio:
    type: twilio
    auth_token: {TOKEN}
    public_url: https://leads.example.com
"""


@pytest.fixture
def app(db_url, make_app):
    """The app with one twilio source."""
    return make_app(CONFIG, db_url)


def rows(app) -> list:
    """Every lead row (a twilio answer is TwiML, so the test reads the table)."""
    with app.extensions["leadrelay"].engine.connect() as conn:
        return list(conn.execute(select(leads).order_by(leads.c.id)))


def signed(params: dict[str, str]) -> tuple[bytes, dict[str, str]]:
    """A form body and headers signed for the fixture's URL."""
    return urlencode(params).encode(), {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature(TOKEN, META["url"], params),
    }


def test_any_other_message_is_stored_dropped_never_a_lead(app):
    """'Yes, call me at 5' is kept for audit and dropped with the reason: an SMS is never a lead."""
    params = dict(parse_qsl(BODY.decode()))
    params.update(Body="Yes, call me at 5", MessageSid="SM00000000000000000000000000000001")
    body, headers = signed(params)
    response = app.test_client().post("/webhooks/twilio", data=body, headers=headers)
    assert response.status_code == 200 and response.get_data(as_text=True) == EMPTY_TWIML
    (row,) = rows(app)
    assert row.status == "dropped" and "never a lead" in row.errors and row.lead is None


def test_bad_signature_is_401_and_stores_nothing(app):
    """A forged STOP (wrong signature) is refused before anything is stored."""
    headers = {**META["headers"], "X-Twilio-Signature": "AAAAAAAAAAAAAAAAAAAAAAAAAAA="}
    response = app.test_client().post("/webhooks/twilio", data=BODY, headers=headers)
    assert response.status_code == 401 and response.json["error"] == "invalid_signature"
    assert count(app, events) == 0
