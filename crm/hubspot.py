"""HubSpot write-back: a call engagement (CRM v3 calls object) associated with the contact.

Requests (HubSpot's API reference, "Activities | Calls" and "Search"; recorded in
tests/data/writeback/hubspot/): `POST /crm/v3/objects/calls` with `properties` and an
association to the contact (HUBSPOT_DEFINED type 194, call → contact); the call carries
`hs_call_external_id` = leadrelay's id for the attempt, so before any retry
`POST /crm/v3/objects/calls/search` (filter EQ on that property) finds a call that was
created although its answer was lost. Optionally `PATCH /crm/v3/objects/contacts/{id}` sets a
contact property to the last disposition. Auth: a private-app token (Bearer). A 429 is retried
after its Retry-After. HubSpot's search index lags writes by seconds, so a lookup right after a
lost answer can miss; the job then waits its backoff before looking again (never resends first).
"""

from __future__ import annotations

from typing import Any

import requests

from crm.base import Outcome, done, failed, judge, send, timeout_of, unknown
from crm.payload import Payload, external_id, https, outcome_text, summary

DEFAULT_BASE = "https://api.hubapi.com"
CALL_TO_CONTACT = 194  # HubSpot's default association type id: call → contact


def _headers(settings: dict[str, Any]) -> dict[str, str]:
    """Bearer auth with the private-app token, JSON both ways."""
    return {"Authorization": f"Bearer {settings['access_token']}", "Content-Type": "application/json"}


def _base(settings: dict[str, Any]) -> str:
    """The API's base URL (tests point it at the fake)."""
    return str(settings.get("api_base_url") or DEFAULT_BASE).rstrip("/")


def call_body(payload: Payload) -> dict[str, Any]:
    """The create-call request body for this attempt."""
    lead, attempt = payload["lead"], payload["attempt"]
    properties: dict[str, Any] = {
        "hs_timestamp": str(int(attempt["attempt_at"] * 1000)),
        "hs_call_title": f"RingCX call: {outcome_text(payload)}",
        "hs_call_body": summary(payload),
        "hs_call_direction": "OUTBOUND",
        "hs_call_status": "COMPLETED",
        "hs_call_external_id": external_id(payload),
    }
    if attempt["duration"] is not None:
        properties["hs_call_duration"] = str(attempt["duration"] * 1000)  # milliseconds
    if lead["phone"]:
        properties["hs_call_to_number"] = lead["phone"]
    if https(attempt["recording_url"]):
        properties["hs_call_recording_url"] = attempt["recording_url"]
    return {
        "properties": properties,
        "associations": [
            {
                "to": {"id": str(lead["externId"])},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": CALL_TO_CONTACT}],
            }
        ],
    }


def search_body(payload: Payload) -> dict[str, Any]:
    """The search request that finds this attempt's call by leadrelay's id."""
    return {
        "filterGroups": [
            {"filters": [{"propertyName": "hs_call_external_id", "operator": "EQ", "value": external_id(payload)}]}
        ],
        "properties": ["hs_call_external_id"],
        "limit": 1,
    }


def find_call(payload: Payload, settings: dict[str, Any], session: requests.Session) -> str | Outcome | None:
    """The id of this attempt's call if HubSpot has it, None if not, or the outcome of a failed search."""
    response = send(
        session,
        timeout_of(settings),
        "POST",
        f"{_base(settings)}/crm/v3/objects/calls/search",
        "hubspot search",
        json=search_body(payload),
        headers=_headers(settings),
    )
    if isinstance(response, Outcome):
        return response if response.state != "unknown" else Outcome("retry", response.detail, cause="down")
    verdict = judge(response, "hubspot search")
    if verdict is not None:
        return verdict
    results = response.json().get("results") or []
    return str(results[0]["id"]) if results else None


def deliver(payload: Payload, settings: dict[str, Any], session: requests.Session, look_first: bool = False) -> Outcome:
    """One try: find the call (after an earlier try) or create it, then set the contact's disposition property."""
    if not payload["lead"]["externId"]:
        return failed("hubspot: the lead has no contact id (externId)")
    call_id: str | None = None
    if look_first:
        found = find_call(payload, settings, session)
        if isinstance(found, Outcome):
            return found
        call_id = found
    if call_id is None:
        response = send(
            session,
            timeout_of(settings),
            "POST",
            f"{_base(settings)}/crm/v3/objects/calls",
            "hubspot create call",
            json=call_body(payload),
            headers=_headers(settings),
        )
        if isinstance(response, Outcome):
            return response
        verdict = judge(response, "hubspot create call")
        if verdict is not None:
            return verdict
        try:
            call_id = str(response.json()["id"])
        except (ValueError, KeyError, TypeError):
            return unknown(f"hubspot create call: {response.status_code} without an id")
    prop = settings.get("disposition_property")
    if prop:
        response = send(
            session,
            timeout_of(settings),
            "PATCH",
            f"{_base(settings)}/crm/v3/objects/contacts/{payload['lead']['externId']}",
            "hubspot contact property",
            json={"properties": {prop: outcome_text(payload)}},
            headers=_headers(settings),
        )
        if isinstance(response, Outcome):
            # Setting a property twice is harmless: a lost answer is simply retried (the call is found again).
            return response if response.state != "unknown" else Outcome("retry", response.detail, cause="down")
        verdict = judge(response, "hubspot contact property")
        if verdict is not None:
            return verdict
    return done(f"hubspot: call {call_id}", call_id=call_id)
