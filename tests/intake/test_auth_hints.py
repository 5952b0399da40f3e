"""A 401 says where this source expects its credentials, and nothing about other sources (issue 19)."""

from __future__ import annotations

import pytest

CONFIG = """
sources:
  website:
    type: generic
    token: site-token-7f3a
  formy:
    type: generic
    token: form-token-91bc
    token_field: secret_word
  hubspot:
    type: hubspot
    client_secret: "8e2b4b4c-1f7a-4c3e-9d2a-5b6f7e8d9c0a"
    public_url: https://leads.example.com
  signed:
    type: generic
    hmac: {header: X-Signature, secret: whsec-other-1234, algorithm: sha256, encoding: hex}
"""

LEAD = {"id": "L-1", "phone": "3035550142"}


@pytest.fixture
def client(make_app, sqlite_url):
    """The app on SQLite (the answer is built before any database work)."""
    return make_app(CONFIG, sqlite_url).test_client()


@pytest.mark.parametrize("headers", [{}, {"X-Leadrelay-Token": "wrong"}])
def test_token_source_names_the_header_and_query_parameter(client, headers):
    """A missing or wrong token: the answer says the header and ?token= take it."""
    response = client.post("/webhooks/website", json=LEAD, headers=headers)
    assert response.status_code == 401
    assert response.json["error"] == "invalid_token"
    assert response.json["detail"] == "the token goes in the X-Leadrelay-Token header or the ?token= query parameter"


def test_token_field_is_named_when_configured(client):
    """A source that reads the token from a form field says so."""
    response = client.post("/webhooks/formy", data={**LEAD, "secret_word": "nope"})
    assert response.status_code == 401
    assert "the form field 'secret_word'" in response.json["detail"]


def test_signature_source_names_its_signature_header(client):
    """HubSpot without the v3 headers: the hint names what is missing, not the shared-token places."""
    response = client.post("/webhooks/hubspot", json={"vid": 1})
    assert response.status_code == 401
    detail = response.json["detail"]
    assert detail.startswith("hubspot's own authentication: ") and "X-HubSpot-Signature" in detail
    assert "X-Leadrelay-Token" not in detail


def test_hmac_source_names_its_configured_header(client):
    """An HMAC source names its own configured header."""
    response = client.post("/webhooks/signed", json=LEAD)
    assert response.status_code == 401
    assert response.json["detail"] == "generic's own authentication: X-Signature is missing"


def test_no_other_source_is_revealed(client):
    """Nothing of another source (its name, header, token or field) is in any 401 answer."""
    bodies = [
        client.post(path, json=LEAD).get_data(as_text=True)
        for path in ("/webhooks/website", "/webhooks/formy", "/webhooks/hubspot", "/webhooks/signed")
    ]
    for body in bodies:
        for secret in ("site-token-7f3a", "form-token-91bc", "whsec-other-1234", "8e2b4b4c"):
            assert secret not in body
    assert "secret_word" not in bodies[0] and "X-Signature" not in bodies[0] + bodies[1] + bodies[2]
