"""Shared by the admin, alerts and browser tests: a config, distinct lead bodies, posting them."""

from __future__ import annotations

import json

from tests.builders import fixture_bytes

TOKEN = "admin-test-token"
SOURCE_TOKEN = "src-token"
CONFIG = """
defaults:
  campaign: "Inbound Leads"
  suppress_within: 0
dispatch:
  lease_seconds: 2
  backoff_base: 0.2
  backoff_cap: 1s
  poll_interval: 0.5
  hold_probe: 1s
sources:
  hubspot:
    type: hubspot
    token: src-token
    routes:
      - when: {hubspotscore: {gte: 80}}
        priority: IMMEDIATE
        campaign: "Hot Inbound"
      - priority: NORMAL
"""
BODY = json.loads(fixture_bytes("hubspot/workflow_contact_all_properties.json"))


def lead_body(n: int, email: str | None = None) -> bytes:
    """A HubSpot workflow body for a distinct contact n (new vid, new phone ending in n)."""
    body = json.loads(json.dumps(BODY))
    body["vid"] = 70000000 + n
    body["properties"]["hs_object_id"]["value"] = str(70000000 + n)
    body["properties"]["phone"]["value"] = f"(303) 555-{n:04d}"
    body["properties"]["mobilephone"]["value"] = ""
    if email is not None and "email" in body["properties"]:
        body["properties"]["email"]["value"] = email
    return json.dumps(body).encode()


def post_lead(client, n: int, email: str | None = None) -> dict:
    """POST one lead through the real webhook endpoint (Flask client); returns the answer's first lead."""
    response = client.post(
        "/webhooks/hubspot",
        data=lead_body(n, email),
        headers={"Content-Type": "application/json", "X-Leadrelay-Token": SOURCE_TOKEN},
    )
    assert response.status_code == 202, response.data
    return response.json["leads"][0]
