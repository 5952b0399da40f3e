"""RingCX web services end to end: each recorded body (JSON and form) is stored raw, matched, recorded as an attempt."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import text

from store import attempts as attempt_store
from tests.builders import fixture_bytes
from tests.intake.helpers import RINGCX_CONFIG, loaded_lead, post


@pytest.fixture
def service(make_app, db_url):
    """The app with a form source and a ringcx source, its test client and its engine."""
    app = make_app(RINGCX_CONFIG, db_url)
    return app, app.test_client(), app.extensions["leadrelay"].engine


def row(engine, sql: str, **params):
    """One row of a query, as a mapping."""
    with engine.connect() as conn:
        return conn.execute(text(sql), params).mappings().one()


def test_json_agent_termination_is_matched_by_extern_id_and_campaign(service):
    """A connected call: recorded on its lead with every element as sent; the raw body is the event."""
    _app, http, engine = service
    other = loaded_lead(http, engine, "hs-contact-901", "3035550142", hot="no")  # same externId, other campaign
    lead_id = loaded_lead(http, engine, "hs-contact-901", "3035550142")
    response = post(http, "agent_termination.json", how="header")
    assert response.status_code == 202, response.json
    (entry,) = response.json["attempts"]
    assert entry["lead_id"] == lead_id != other and entry["matched_by"] == "extern_id_campaign"
    assert entry["status"] == "recorded"
    (attempt,) = attempt_store.for_lead(engine, lead_id)
    assert {k: attempt[k] for k in ("uii", "kind", "phone", "agent", "agent_id", "system_disposition")} == {
        "uii": "202612071503340136000000000123",
        "kind": "agent_termination",
        "phone": "3035550142",
        "agent": "ada.agent@example.com",
        "agent_id": "1042",
        "system_disposition": "ANSWER",
    }
    assert attempt["disposition"] is None  # sent empty: no disposition yet at agent termination
    assert attempt["duration"] == 47 and attempt["connected"] is True
    assert attempt["call_start"] == "2026-12-07 15:03:34.0000"  # kept as sent, never parsed
    assert attempt["recording_url"] == "https://recordings.example.com/r/202612071503340136000000000123.wav"
    event = row(
        engine, "SELECT body, status, source, received_at FROM events WHERE id = :id", id=response.json["event_id"]
    )
    assert bytes(event["body"]) == fixture_bytes("ringcx/agent_termination.json") and event["status"] == "accepted"
    lead = row(engine, "SELECT first_attempt_at, first_connect_at, status FROM leads WHERE id = :id", id=lead_id)
    assert lead["first_attempt_at"] == lead["first_connect_at"] == attempt["attempt_at"] == event["received_at"]
    assert lead["status"] == "delivered"  # a dialer event is never a lead, and this one ends nothing


def test_form_post_disposition_final_and_resend_is_a_duplicate(service):
    """A form body with an HH:MM:SS duration and a final disposition; RingCX resending it records nothing new."""
    _, http, engine = service
    lead_id = loaded_lead(http, engine, "hs-contact-901", "3035550142")
    first = post(http, "post_disposition.form")
    assert first.status_code == 202, first.json
    (entry,) = first.json["attempts"]
    assert entry["lead_id"] == lead_id and entry["effect"] == "final"
    (attempt,) = attempt_store.for_lead(engine, lead_id)
    assert attempt["disposition"] == "Sale" and attempt["duration"] == 47 and attempt["kind"] == "post_disposition"
    again = post(http, "post_disposition.form")
    assert again.status_code == 200 and again.json == {"event_id": first.json["event_id"], "duplicate": True}
    assert len(attempt_store.for_lead(engine, lead_id)) == 1
    count = row(engine, "SELECT COUNT(*) AS n FROM leads")["n"]
    assert count == 1  # neither body became a lead


def test_form_without_extern_id_is_matched_by_phone(service):
    """An unanswered call with no externId and no agent: found by the customer's number; no connect."""
    _, http, engine = service
    lead_id = loaded_lead(http, engine, "web-77", "+1 303 555 0177")
    response = post(http, "agent_termination.form")
    (entry,) = response.json["attempts"]
    assert response.status_code == 202 and entry["lead_id"] == lead_id and entry["matched_by"] == "phone"
    lead = row(engine, "SELECT first_attempt_at, first_connect_at FROM leads WHERE id = :id", id=lead_id)
    assert lead["first_attempt_at"] is not None and lead["first_connect_at"] is None


def test_unfilled_tags_are_absent_and_unmatched_events_are_kept(service):
    """`#extern_id#` left by RingCX is no externId; with no lead for the number the event is kept unmatched."""
    _, http, engine = service
    loaded_lead(http, engine, "web-1", "3035550142")
    response = post(http, "post_disposition.json")
    (entry,) = response.json["attempts"]
    assert response.status_code == 202 and entry == {
        "attempt_id": entry["attempt_id"],
        "lead_id": None,
        "matched_by": None,
        "status": "unmatched",
        "effect": "dnc",
    }
    (kept,) = attempt_store.unmatched(engine)
    assert kept["extern_id"] is None and kept["campaign"] is None and kept["phone"] == "3035550199"
    assert kept["disposition"] == "Do Not Call"


def test_a_lead_not_loaded_is_not_matched(service):
    """A call can only be about a lead the dialer has: a queued lead with the same externId is not it."""
    _, http, _engine = service
    response = http.post("/webhooks/web?token=web-token", json={"id": "hs-contact-901", "phone": "3035550142"})
    assert response.json["leads"][0]["status"] == "queued"
    assert post(http, "agent_termination.json").json["attempts"][0]["status"] == "unmatched"


@pytest.mark.parametrize("token", ["wrong", ""])
def test_wrong_token_stores_nothing(service, token):
    """401, and no event row."""
    _, http, engine = service
    response = post(http, "agent_termination.json", token=token)
    assert response.status_code == 401 and response.json["error"] == "invalid_token"
    assert row(engine, "SELECT COUNT(*) AS n FROM events")["n"] == 0


def test_unreadable_body_is_stored_and_acknowledged(service):
    """A body that is neither JSON nor a form is kept raw (malformed) and answered 2xx: RingCX's retries are unknown."""
    _, http, engine = service
    response = http.post(
        "/webhooks/dialer?token=rc-token", data=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 202 and response.json["status"] == "malformed"
    assert (
        row(engine, "SELECT status FROM events WHERE id = :id", id=response.json["event_id"])["status"] == "malformed"
    )


def test_fields_map_other_names(make_app, db_url):
    """`fields:` maps a body that names its keys differently (here: RingCX's own documentation example)."""
    config = (
        RINGCX_CONFIG
        + """    fields: {uii: callId, phone: ani, agent: agentUsername, call_start: callStart, recording_url: recordingUrl}
"""
    )
    app = make_app(config, db_url)
    http, engine = app.test_client(), app.extensions["leadrelay"].engine
    lead_id = loaded_lead(http, engine, "x-1", "3035550142")
    body = {
        "callId": "u-1",
        "agentUsername": "bo@example.com",
        "ani": "3035550142",
        "callStart": "2026-12-07 15:00:00.0000",
        "duration": "9",
        "recordingUrl": "https://r.example.com/1",
    }
    response = http.post(
        "/webhooks/dialer?token=rc-token", data=json.dumps(body), headers={"Content-Type": "application/json"}
    )
    assert response.json["attempts"][0]["lead_id"] == lead_id
    (attempt,) = attempt_store.for_lead(engine, lead_id)
    assert (attempt["uii"], attempt["agent"], attempt["recording_url"]) == (
        "u-1",
        "bo@example.com",
        "https://r.example.com/1",
    )


def test_final_disposition_makes_the_lead_done_and_suppresses_from_the_disposition(service):
    """`Sale` ends the lead; the same record sent again is suppressed for suppress_within counted from the call."""
    _, http, engine = service
    old = time.time() - 3 * 86400  # received three days ago: past suppress_within (24 h) by receipt
    lead_id = loaded_lead(http, engine, "hs-contact-901", "3035550142", at=old + 60)
    other = loaded_lead(http, engine, "web-2", "3035550143", at=old + 60)
    with engine.begin() as conn:
        conn.execute(
            text("UPDATE leads SET received_at = :old WHERE id IN (:a, :b)"), {"old": old, "a": lead_id, "b": other}
        )
    response = post(http, "post_disposition.form")
    assert response.json["attempts"][0]["effect"] == "final"
    lead = row(engine, "SELECT status, disposed_at FROM leads WHERE id = :id", id=lead_id)
    assert lead["status"] == "done" and lead["disposed_at"] > old + 86400
    again = http.post(
        "/webhooks/web?token=web-token", json={"id": "hs-contact-901", "phone": "3035550142", "hot": "yes"}
    )
    assert again.json["leads"][0]["status"] == "suppressed"
    # The control: a lead of the same age without a final disposition no longer suppresses.
    fresh = http.post("/webhooks/web?token=web-token", json={"id": "web-2", "phone": "3035550143", "hot": "yes"})
    assert fresh.json["leads"][0]["status"] == "queued"


def test_a_final_disposition_on_an_unmatched_event_changes_no_lead(service):
    """With no lead found, `Sale` is recorded on the event only."""
    _, http, engine = service
    response = post(http, "post_disposition.form")
    assert response.json["attempts"][0] == {**response.json["attempts"][0], "status": "unmatched", "effect": "final"}
    assert row(engine, "SELECT COUNT(*) AS n FROM leads")["n"] == 0


def test_retention_and_forget_erase_the_callers_number_and_recording(service):
    """Purge past retention and `forget --phone` clear a dialer event's number, recording link and raw body."""
    from store.retention import forget, purge

    _, http, engine = service
    post(http, "agent_termination.json")
    post(http, "post_disposition.json")
    purge(engine, retention_days=1, now=time.time() + 2 * 86400)
    assert (
        row(engine, "SELECT COUNT(*) AS n FROM attempts WHERE phone IS NOT NULL OR recording_url IS NOT NULL")["n"] == 0
    )
    post(http, "agent_termination.form")
    result = forget(engine, phone="3035550177")
    kept = row(
        engine, "SELECT phone, recording_url, event_id FROM attempts WHERE uii = '202612071720450136000000000789'"
    )
    assert kept["phone"] is None and result["event_bodies"] == 1
    assert row(engine, "SELECT body FROM events WHERE id = :id", id=kept["event_id"])["body"] is None


def test_do_not_call_disposition_stops_the_numbers_other_leads(service):
    """`Do Not Call`: the number is listed, the matched lead is stopped (opted out, cancelled in Engage),
    another waiting lead with the number is blocked, an unrelated one is not; Engage's DNC list gets a job."""
    _, http, engine = service
    loaded = loaded_lead(http, engine, "web-9", "3035550199")
    waiting = http.post("/webhooks/web?token=web-token", json={"id": "web-10", "phone": "+1 303 555 0199"})
    waiting_id = waiting.json["leads"][0]["lead_id"]
    other = http.post("/webhooks/web?token=web-token", json={"id": "web-11", "phone": "3035550100"}).json["leads"][0]
    response = post(http, "post_disposition.json")  # Do Not Call, for (303) 555-0199, found by phone
    assert response.json["attempts"][0]["effect"] == "dnc" and response.json["attempts"][0]["lead_id"] == loaded
    statuses = {
        i: row(engine, "SELECT status FROM leads WHERE id = :id", id=i)["status"]
        for i in (loaded, waiting_id, other["lead_id"])
    }
    assert statuses == {loaded: "opted_out", waiting_id: "blocked", other["lead_id"]: "queued"}
    listed = row(engine, "SELECT phone, source, added_by FROM dnc")
    assert listed["phone"] == "+13035550199" and listed["added_by"] == f"event:{response.json['event_id']}"
    with engine.connect() as conn:
        kinds = sorted(r[0] for r in conn.execute(text("SELECT kind FROM jobs")))
    assert kinds == ["engage.dnc_add", "engage.lead_action"]


def test_app_dnc_is_recorded_not_added(service):
    """RingCX's own scrub (APP_DNC) is kept on the attempt; no lead stops, no list entry is made."""
    _, http, engine = service
    lead_id = loaded_lead(http, engine, "web-5", "3035550142")
    body = {"event": "post_disposition", "uii": "u-app", "extern_id": "web-5", "system_disposition": "APP_DNC"}
    response = http.post("/webhooks/dialer?token=rc-token", json=body)
    assert response.json["attempts"][0]["effect"] == "app_dnc"
    assert row(engine, "SELECT status FROM leads WHERE id = :id", id=lead_id)["status"] == "delivered"
    assert row(engine, "SELECT COUNT(*) AS n FROM jobs")["n"] == 0
