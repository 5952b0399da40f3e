"""Issue 18 findings 1 and 4: a signature, when configured, is required; HubSpot v3 is required by default."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import func, select

from app import banner
from store.schema import events
from tests.builders import fixture_bytes, fixture_meta

BODY = fixture_bytes("hubspot/workflow_contact_all_properties.json")
META = fixture_meta("hubspot/workflow_contact_all_properties.json")
NOW = 1768496645.123 + 5
URL = "/webhooks/hubspot/workflow?list=hot%3Aleads&src=hs"
SECRET = META["signature"]["secret"]
V1V2_ONLY = {k: v for k, v in META["headers"].items() if "v3" not in k.lower() and "Timestamp" not in k}


def config(**extra: str) -> str:
    """The hubspot source signed by the fixture, plus `extra` keys."""
    lines = "".join(f"    {key}: {value}\n" for key, value in extra.items())
    return (
        "sources:\n  hubspot:\n    type: hubspot\n"
        f'    client_secret: "{SECRET}"\n    public_url: https://leads.example.com\n{lines}'
    )


@pytest.fixture
def build(make_app, db_url):
    """An app with the given extra keys on the hubspot source; clock at the fixture's time."""

    def make(**extra: str):
        """The Flask test client of that app."""
        application = make_app(config(**extra), db_url)
        application.extensions["leadrelay"].intake.clock = lambda: NOW
        return application

    return make


def stored(app) -> int:
    """Events stored."""
    with app.extensions["leadrelay"].engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(events)).scalar()


def test_the_token_alone_does_not_pass_when_a_signature_is_configured(build):
    """Token + client secret: the right token without a signature is 401, nothing stored."""
    app = build(token="shared-token")
    client = app.test_client()
    headers = {"Content-Type": "application/json", "X-Leadrelay-Token": "shared-token"}
    response = client.post(URL, data=BODY, headers=headers)
    assert response.status_code == 401 and response.json["error"] == "missing_signature"
    assert client.post(URL + "&token=shared-token", data=BODY, headers=headers).status_code == 401
    assert stored(app) == 0
    # The signature decides: signed and with the token, or signed alone, it is accepted.
    assert client.post(URL, data=BODY, headers={**META["headers"], "X-Leadrelay-Token": "shared-token"}).status_code
    assert stored(app) == 1


def test_allow_token_alone_opts_out_and_says_so_at_start(build, caplog):
    """`allow_token_alone: true` lets the token in without a signature; the banner names the source."""
    app = build(token="shared-token", allow_token_alone="true")
    headers = {"Content-Type": "application/json", "X-Leadrelay-Token": "shared-token"}
    assert app.test_client().post(URL, data=BODY, headers=headers).status_code == 202
    with caplog.at_level(logging.WARNING, logger="leadrelay"):
        banner(app.extensions["leadrelay"].settings)
    assert any("allow_token_alone" in r.getMessage() and "hubspot" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("v3", [None, "", "   "], ids=["removed", "empty", "blank"])
def test_hubspot_v3_cannot_be_stripped_to_fall_back_on_v1_v2(build, v3):
    """With a client secret, removing or emptying X-HubSpot-Signature-v3 is 401: v1/v2 carry no timestamp."""
    app = build()
    headers = dict(V1V2_ONLY)
    if v3 is not None:
        headers["X-HubSpot-Signature-v3"] = v3
    response = app.test_client().post(URL, data=BODY, headers=headers)
    assert response.status_code == 401 and response.json["error"] == "missing_signature"
    assert stored(app) == 0


def test_hubspot_stale_v3_is_refused_whatever_v1_v2_say(build):
    """A captured request replayed after the window: stale, even though its v2 signature is valid."""
    app = build()
    app.extensions["leadrelay"].intake.clock = lambda: NOW + 600
    response = app.test_client().post(URL, data=BODY, headers=META["headers"])
    assert response.status_code == 401 and response.json["error"] == "stale_timestamp"
    stripped = app.test_client().post(URL, data=BODY, headers=V1V2_ONLY)
    assert stripped.status_code == 401


def test_legacy_signatures_accepts_v1_v2_and_warns_at_start(build, caplog):
    """`legacy_signatures: true` (apps that do not send v3): v2 passes, and the banner says it can be replayed."""
    app = build(legacy_signatures="true")
    assert app.test_client().post(URL, data=BODY, headers=V1V2_ONLY).status_code == 202
    with caplog.at_level(logging.WARNING, logger="leadrelay"):
        banner(app.extensions["leadrelay"].settings)
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "legacy_signatures" in text and "replay" in text
