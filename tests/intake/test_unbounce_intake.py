"""Unbounce end to end: token in the URL, data.json, the synthesized externId, redelivery within the window."""

from __future__ import annotations

import pytest

from tests.builders import fixture_bytes, fixture_meta

BODY = fixture_bytes("unbounce/form_submit.txt")
META = fixture_meta("unbounce/form_submit.txt")

CONFIG = """
defaults:
  campaign: "Inbound Leads"
sources:
  unbounce:
    type: unbounce
    token: ub-url-token-3f9a
    routes:
      - when: {how_soon: ASAP}
        priority: IMMEDIATE
    priority: NORMAL
"""


@pytest.fixture
def app(db_url, make_app):
    """The app on a fresh database."""
    return make_app(CONFIG, db_url)


def test_submission_with_url_token_is_queued(app):
    """202; the stored lead carries the fixture's contact and a `ub-` externId; a redelivery is a duplicate."""
    client = app.test_client()
    response = client.post("/webhooks/unbounce?token=ub-url-token-3f9a", data=BODY, headers=META["headers"])
    assert response.status_code == 202, response.json
    [entry] = response.json["leads"]
    assert entry["status"] == "queued" and entry["priority"] == "IMMEDIATE"
    assert entry["externId"].startswith("ub-") and len(entry["externId"]) == 23
    stored = app.extensions["leadrelay"].queue.get(entry["lead_id"])
    assert stored["lead"] == {
        "externId": entry["externId"],
        "leadPhone": "3035550142",
        "firstName": "Ada",
        "lastName": "Example",
        "email": "ada.example@example.com",
        "zip": "80202",
    }
    assert stored["record"]["page_name"] == "Free Quote"
    again = client.post("/webhooks/unbounce/lp-1?token=ub-url-token-3f9a", data=BODY, headers=META["headers"])
    assert again.status_code == 200 and again.json["duplicate"] is True


@pytest.mark.parametrize("url", ["/webhooks/unbounce", "/webhooks/unbounce?token=wrong", "/webhooks/unbounce?token="])
def test_missing_or_wrong_token_is_401(app, url):
    """No token, no lead."""
    response = app.test_client().post(url, data=BODY, headers=META["headers"])
    assert response.status_code == 401 and response.json["error"] == "invalid_token"


def test_broken_data_json_is_stored_and_acknowledged(app):
    """A malformed submission is kept for replay and answered 202 (Unbounce expects 200/2xx)."""
    response = app.test_client().post(
        "/webhooks/unbounce?token=ub-url-token-3f9a", data=b"data.json=%7Bbroken", headers=META["headers"]
    )
    assert response.status_code == 202 and response.json["status"] == "malformed"
