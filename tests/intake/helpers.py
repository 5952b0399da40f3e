"""Helpers for the intake tests: row counts, and the RingCX dialer tests' config, leads and recorded bodies."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, text

from tests.builders import fixture_bytes

# A form source (`web`, routed to "Hot Inbound" when hot) and a RingCX source (`dialer`): the
# dialer intake, first-dial and console dialer tests.
RINGCX_CONFIG = """
defaults:
  campaign: "Inbound Leads"
sources:
  web:
    type: generic
    token: web-token
    routes:
      - when: {hot: "yes"}
        campaign: "Hot Inbound"
  dialer:
    type: ringcx
    token: rc-token
    dnc_dispositions: ["Do Not Call"]
    final_dispositions: [Sale, Not Interested]
"""
FORM = "application/x-www-form-urlencoded"


def count(app: Any, table: Any, **where: Any) -> int:
    """Rows in a table matching equality filters."""
    engine = app.extensions["leadrelay"].engine
    query = select(func.count()).select_from(table)
    for key, value in where.items():
        query = query.where(table.c[key] == value)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def loaded_lead(http, engine, extern_id: str, phone: str, hot: str = "yes", at: float | None = None) -> int:
    """A lead taken in through the form source and marked loaded, as the dispatcher would after Engage's 200."""
    response = http.post(
        "/webhooks/web?token=web-token", json={"id": extern_id, "phone": phone, "first_name": "Ada", "hot": hot}
    )
    assert response.status_code == 202, response.json
    lead_id = response.json["leads"][0]["lead_id"]
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE leads SET status = 'delivered', delivered_at = COALESCE(:at, received_at + 1) WHERE id = :id"),
            {"id": lead_id, "at": at},
        )
    return lead_id


def post(http, name: str, token: str = "rc-token", how: str = "query"):
    """POST a recorded body as RingCX does (the token in the URL, or in the header)."""
    body = fixture_bytes(f"ringcx/{name}")
    content_type = FORM if name.endswith(".form") else "application/json"
    if how == "header":
        return http.post(
            "/webhooks/dialer", data=body, headers={"Content-Type": content_type, "X-Leadrelay-Token": token}
        )
    return http.post(f"/webhooks/dialer?token={token}", data=body, headers={"Content-Type": content_type})


def dial(http, uii: str, extern_id: str, kind: str = "agent_termination") -> dict:
    """RingCX reports a call on a lead (the recorded JSON body with this call's ids)."""
    body = fixture_bytes("ringcx/agent_termination.json")
    body = body.replace(b"202612071503340136000000000123", uii.encode()).replace(b"hs-contact-901", extern_id.encode())
    body = body.replace(b'"agent_termination"', f'"{kind}"'.encode())
    response = http.post("/webhooks/dialer?token=rc-token", data=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.json
    return response.json
