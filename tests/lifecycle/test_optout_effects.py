"""What an opt-out, a cancel, a privacy deletion and an update do, through the real webhook endpoint
(Flask client) on SQLite and PostgreSQL: statuses, the do-not-call list, the Engage jobs in the
outbox (same transaction), the timeline — and answers that never tell whether a number is listed."""

from __future__ import annotations

import json
import time
from urllib.parse import parse_qsl, urlencode

import pytest
from sqlalchemy import select, text

from handlers.twilio import EMPTY_TWIML, signature
from lead.lifecycle import LeadReason, LeadStatus
from store import audit, dnc
from store.db import write
from store.outbox import ENGAGE_DNC_ADD, ENGAGE_LEAD_ACTION, PRIORITY_BULK, PRIORITY_LIVE, Outbox
from store.schema import events
from tests.builders import fixture_bytes, fixture_meta

SF_LEAD = fixture_bytes("salesforce/outbound_lead_hot.xml")
SF_DNC = fixture_bytes("salesforce/outbound_lead_donotcall.xml")
SF_HEADERS = fixture_meta("salesforce/outbound_lead_hot.xml")["headers"]
HS_DELETIONS = fixture_bytes("hubspot/webhooks_api_deletions.json")
DYN_DELETE = fixture_bytes("dynamics365/lead_delete.json")
DYN_META = fixture_meta("dynamics365/lead_delete.json")
SMS = fixture_bytes("twilio/inbound_sms_stop.txt")
SMS_META = fixture_meta("twilio/inbound_sms_stop.txt")

CONFIG = f"""
defaults:
  campaign: "Inbound Leads"
  suppress_within: 1h
sources:
  salesforce:
    type: salesforce
    organization_id: "00D5e000000AbCdEAK"
    routes:
      - when: {{Rating: Hot}}
        priority: IMMEDIATE
        campaign: "Hot Inbound"
      - priority: NORMAL
  web:
    type: generic
    token: web-token-long-enough
  replies:
    type: generic
    token: web-token-long-enough
    events: [lead.created]                  # nothing a reply sends
    routes: [{{drop: true}}]                 # and a first-match route that drops everything
    opt_out_when: {{reply: {{stop_word: true}}}}
  hubspot:
    type: hubspot
    token: hs-token-long-enough
  dynamics:
    type: dynamics
    webhook_key: {DYN_META["auth"]["key"]}
  twilio:                                   # the fixture was signed for /webhooks/twilio
    type: twilio
    auth_token: {SMS_META["signature"]["secret"]}
    public_url: https://leads.example.com
"""
WEB = {"Content-Type": "application/json", "X-Leadrelay-Token": "web-token-long-enough"}
HS = {"Content-Type": "application/json", "X-Leadrelay-Token": "hs-token-long-enough"}


@pytest.fixture
def app(db_url, make_app):
    """The app; the dispatcher is not started (the tests read what intake stored)."""
    return make_app(CONFIG, db_url)


def engine(app):
    """The app's engine."""
    return app.extensions["leadrelay"].engine


def rows(app, **where) -> list:
    """Lead rows (every column) matching equality filters, oldest first."""
    clause = " AND ".join(f"{key} = :{key}" for key in where) or "1 = 1"
    with engine(app).connect() as conn:
        return list(conn.execute(text(f"SELECT * FROM leads WHERE {clause} ORDER BY id"), where))


def jobs(app, kind: str) -> list:
    """The outbox's jobs of one kind."""
    return Outbox(engine(app)).rows(kind=kind)


def web_lead(client, extern: str, phone: str) -> dict:
    """A generic lead (another source) with this number; its answer entry."""
    body = {"id": extern, "phone": phone, "first_name": "Ada"}
    answer = client.post("/webhooks/web", data=json.dumps(body), headers=WEB)
    assert answer.status_code == 202, answer.json
    return answer.json["leads"][0]


def set_status(app, lead_id: int, status: LeadStatus) -> None:
    """Put a lead where the dispatcher would have put it."""
    with write(engine(app)) as conn:
        conn.execute(text("UPDATE leads SET status = :s WHERE id = :id"), {"s": str(status), "id": lead_id})


def test_salesforce_do_not_call_opts_out_pending_blocks_others_and_queues_engage_jobs(app):
    """DoNotCall true: its own pending lead opted_out, its numbers listed, another source's lead blocked."""
    client = app.test_client()
    assert client.post("/webhooks/salesforce", data=SF_LEAD, headers=SF_HEADERS).status_code == 200
    other = web_lead(client, "w-1", "+1 (720) 555-0117")  # the same person's mobile, another source
    unrelated = web_lead(client, "w-2", "303-555-0199")

    answer = client.post("/webhooks/salesforce", data=SF_DNC, headers=SF_HEADERS)
    assert answer.status_code == 200 and b"<Ack>true</Ack>" in answer.data
    own, event_row = rows(app, source="salesforce")
    assert own.status == LeadStatus.OPTED_OUT and event_row.status == LeadStatus.OPTED_OUT
    assert event_row.extern_id == own.extern_id == "00Q5e00000AbCdEFGH"
    (blocked,) = rows(app, extern_id="w-1")
    assert (blocked.status, blocked.status_reason) == (LeadStatus.BLOCKED, LeadReason.DO_NOT_CALL)
    assert rows(app, extern_id="w-2")[0].status == LeadStatus.QUEUED
    assert other["status"] == unrelated["status"] == "queued"

    with engine(app).connect() as conn:
        entries = {r["phone"]: r for r in dnc.matching(conn, ["+13035550142", "+17205550117"])}
    assert set(entries) == {"+13035550142", "+17205550117"}
    assert entries["+13035550142"]["source"] == "salesforce"
    assert entries["+13035550142"]["added_by"] == f"event:{event_row.event_id}"
    (job,) = jobs(app, ENGAGE_DNC_ADD)
    assert sorted(job.payload["phones"]) == ["+13035550142", "+17205550117"] and job.priority == PRIORITY_LIVE
    assert jobs(app, ENGAGE_LEAD_ACTION) == []  # nothing was loaded: nothing to stop in Engage

    kinds = [t["kind"] for t in audit.timeline(engine(app), own.id)]
    assert kinds == ["opt_out"]
    assert "dnc" in [t["kind"] for t in audit.timeline(engine(app), blocked.id)]
    assert "opt-out received" in audit.timeline(engine(app), event_row.id)[0]["detail"]["text"]


def test_opt_out_of_a_loaded_lead_names_externid_campaign_and_numbers(app):
    """A delivered lead is opted out and a CANCEL_LEADS job carries its externId, campaign and numbers."""
    client = app.test_client()
    client.post("/webhooks/salesforce", data=SF_LEAD, headers=SF_HEADERS)
    (loaded,) = rows(app, source="salesforce")
    set_status(app, loaded.id, LeadStatus.DELIVERED)
    client.post("/webhooks/salesforce", data=SF_DNC, headers=SF_HEADERS)
    assert rows(app, id=loaded.id)[0].status == LeadStatus.OPTED_OUT
    (action,) = jobs(app, ENGAGE_LEAD_ACTION)
    assert action.payload == {
        "action": "CANCEL_LEADS",
        "extern_ids": ["00Q5e00000AbCdEFGH"],
        "campaigns": ["Hot Inbound"],
        "phones": ["3035550142", "7205550117"],
        "lead_ids": [loaded.id],
    }
    assert action.state == "pending" and action.priority == PRIORITY_LIVE


def test_an_opt_out_commits_with_its_event_or_not_at_all(app, monkeypatch):
    """A failure while applying the effect stores nothing: no event, no list entry, no job (one transaction)."""
    import store.outbox

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(store.outbox, "enqueue", broken)
    answer = app.test_client().post("/webhooks/salesforce", data=SF_DNC, headers=SF_HEADERS)
    assert answer.status_code == 500  # never 2xx for what was not stored
    with engine(app).connect() as conn:
        assert conn.execute(select(events)).first() is None
        assert not dnc.on_dnc(conn, ["+13035550142"])


def test_a_new_lead_for_a_listed_number_answers_queued(app):
    """No oracle: a webhook for a number on the list is answered like any other (the claim-time gate blocks it)."""
    client = app.test_client()
    client.post("/webhooks/salesforce", data=SF_DNC, headers=SF_HEADERS)
    entry = web_lead(client, "w-9", "(303) 555-0142")
    assert entry["status"] == "queued"


def test_events_filter_and_routes_cannot_shadow_an_opt_out(app):
    """`replies` takes only `lead.created` and drops every route; a STOP there still opts its number out."""
    client = app.test_client()
    waiting = web_lead(client, "w-3", "3035550142")
    body = {"id": "r-1", "phone": "(303) 555-0142", "reply": " stop "}
    answer = client.post("/webhooks/replies", data=json.dumps(body), headers=WEB)
    assert answer.json["leads"][0]["status"] == "opted_out"
    other = {"id": "r-2", "phone": "(303) 555-0143", "reply": "who is this?"}
    assert client.post("/webhooks/replies", data=json.dumps(other), headers=WEB).json["leads"][0]["status"] == "dropped"
    blocked = rows(app, id=waiting["lead_id"])[0]
    assert (blocked.status, blocked.status_reason) == (LeadStatus.BLOCKED, LeadReason.DO_NOT_CALL)
    with engine(app).connect() as conn:
        assert dnc.listed(conn, ["+13035550142", "+13035550143"]) == {"+13035550142"}


def test_cancel_and_delete_without_a_phone(app):
    """A Dynamics Delete (an id, no phone) cancels the row's pending lead; nothing goes on the list."""
    client = app.test_client()
    created = fixture_bytes("dynamics365/lead_create.json")
    headers = {"Content-Type": "application/json"}
    url = "/webhooks/dynamics?code=" + DYN_META["auth"]["key"]
    assert client.post(url, data=created, headers=headers).status_code == 202
    answer = client.post(url, data=DYN_DELETE, headers=headers)
    assert answer.status_code == 202, answer.json
    (entry,) = answer.json["leads"]
    assert entry["status"] == "cancelled" and entry["externId"] == "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f"
    first, _ = rows(app, source="dynamics")
    assert first.status == LeadStatus.CANCELLED
    assert dnc.count(engine(app)) == 0 and jobs(app, ENGAGE_DNC_ADD) == []


def test_privacy_deletion_erases_but_keeps_the_list(app):
    """contact.privacyDeletion: the contact's leads cancelled and erased, DELETE_LEADS for the loaded one;
    a do-not-call entry for its number stays."""
    client = app.test_client()
    body = json.loads(fixture_bytes("hubspot/workflow_contact_all_properties.json"))
    body["vid"] = 51234890
    body["properties"]["hs_object_id"]["value"] = "51234890"
    assert client.post("/webhooks/hubspot", data=json.dumps(body), headers=HS).status_code == 202
    (lead,) = rows(app, source="hubspot")
    set_status(app, lead.id, LeadStatus.DELIVERED)
    phones = dnc.lead_numbers(json.loads(lead.lead), lead.primary_phone)
    with write(engine(app)) as conn:
        dnc.add(conn, phones[:1], reason="asked", source="console", added_by="session:x", now=time.time())

    answer = client.post("/webhooks/hubspot", data=HS_DELETIONS, headers=HS)
    assert answer.status_code == 202
    statuses = [e["status"] for e in answer.json["leads"]]
    # Three contact deletions cancel; the deal's deletion (objectTypeId 0-3) is no lifecycle record.
    assert statuses[:3] == ["cancelled"] * 3 and statuses[3] != "cancelled"
    erased = rows(app, id=lead.id)[0]
    assert erased.status == LeadStatus.CANCELLED
    assert erased.lead is None and erased.record is None and erased.primary_phone is None
    with engine(app).connect() as conn:
        assert conn.execute(select(events.c.body).where(events.c.id == lead.event_id)).scalar() is None
        assert dnc.on_dnc(conn, phones[:1])  # the law keeps the request
    (action,) = jobs(app, ENGAGE_LEAD_ACTION)
    assert action.payload["action"] == "DELETE_LEADS" and action.payload["extern_ids"] == ["51234890"]
    assert [t["kind"] for t in audit.timeline(engine(app), lead.id)] == ["cancel", "erase"]


def sms(params: dict[str, str]):
    """A signed inbound SMS."""
    token = SMS_META["signature"]["secret"]
    return urlencode(params).encode(), {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature(token, SMS_META["url"], params),
    }


def test_texted_stop_lists_the_number_and_blocks_its_leads(app):
    """A signed STOP from +13035550142: listed (source twilio), the pending lead for that number blocked."""
    client = app.test_client()
    waiting = web_lead(client, "w-5", "(303) 555-0142")
    answer = client.post("/webhooks/twilio", data=SMS, headers=SMS_META["headers"])
    assert answer.status_code == 200 and answer.get_data(as_text=True) == EMPTY_TWIML
    assert rows(app, id=waiting["lead_id"])[0].status == LeadStatus.BLOCKED
    (stop,) = rows(app, source="twilio")
    assert stop.status == LeadStatus.OPTED_OUT
    with engine(app).connect() as conn:
        (entry,) = dnc.matching(conn, ["+13035550142"])
    assert entry["source"] == "twilio" and "opt_out_when[0]" in entry["reason"]
    (job,) = jobs(app, ENGAGE_DNC_ADD)
    assert job.payload["phones"] == ["+13035550142"]

    # The same message again (Twilio's retry) is a duplicate: nothing more.
    client.post("/webhooks/twilio", data=SMS, headers=SMS_META["headers"])
    assert len(jobs(app, ENGAGE_DNC_ADD)) == 1
    params = dict(parse_qsl(SMS.decode()))
    params.update(Body="thanks!", MessageSid="SM00000000000000000000000000000002")
    body, headers = sms(params)
    client.post("/webhooks/twilio", data=body, headers=headers)
    assert rows(app, source="twilio")[-1].status == LeadStatus.DROPPED


def test_csv_import_blocks_pending_leads_and_queues_bulk_jobs(app):
    """Imported numbers block pending leads with them; Engage gets them as bulk (priority 9) jobs."""
    from store.optouts import import_file

    client = app.test_client()
    waiting = web_lead(client, "w-6", "720 555 0117")
    data = "phone\n" + "\n".join(f"(303) 555-{i:04d}" for i in range(600)) + "\n+1 720 555 0117\n"
    result = import_file(engine(app), data, region="US", reason="import x.csv", actor="cli:ops")
    assert len(result.added) == 601 and result.rows == 601
    assert rows(app, id=waiting["lead_id"])[0].status == LeadStatus.BLOCKED
    bulk = jobs(app, ENGAGE_DNC_ADD)
    assert [len(j.payload["phones"]) for j in bulk] == [500, 101]
    assert {j.priority for j in bulk} == {PRIORITY_BULK}
    again = import_file(engine(app), data, region="US", reason="import x.csv", actor="cli:ops")
    assert again.added == [] and again.already == 601 and len(jobs(app, ENGAGE_DNC_ADD)) == 2


def test_update_before_load_is_one_lead_with_the_newest_fields(app):
    """The same Salesforce lead changed (new phone, no longer Hot) before its load: the pending lead takes it."""
    client = app.test_client()
    client.post("/webhooks/salesforce", data=SF_LEAD, headers=SF_HEADERS)
    changed = (
        SF_LEAD.replace(b"04l5e00000AbCdEAAX", b"04l5e00000AbCdEZZZ")
        .replace(b"<sf:Rating>Hot</sf:Rating>", b"<sf:Rating>Warm</sf:Rating>")
        .replace(b"(303) 555-0142 ext. 12", b"(303) 555-0177")
    )
    assert client.post("/webhooks/salesforce", data=changed, headers=SF_HEADERS).status_code == 200
    (lead,) = rows(app, source="salesforce")
    assert lead.status == LeadStatus.QUEUED and lead.priority == "NORMAL" and lead.campaign == "Inbound Leads"
    assert json.loads(lead.lead)["leadPhone"] == "3035550177|7205550117"
    (note,) = audit.timeline(engine(app), lead.id)
    assert note["kind"] == "update" and "updated before loading" in note["detail"]["text"]


def test_update_after_load_is_recorded_not_reloaded(app):
    """Changed after it was delivered (inside suppress_within): suppressed, and noted on the loaded lead."""
    client = app.test_client()
    client.post("/webhooks/salesforce", data=SF_LEAD, headers=SF_HEADERS)
    (loaded,) = rows(app, source="salesforce")
    set_status(app, loaded.id, LeadStatus.DELIVERED)
    changed = SF_LEAD.replace(b"04l5e00000AbCdEAAX", b"04l5e00000AbCdEYYY")
    client.post("/webhooks/salesforce", data=changed, headers=SF_HEADERS)
    first, second = rows(app, source="salesforce")
    assert first.status == LeadStatus.DELIVERED and second.status == LeadStatus.SUPPRESSED
    (note,) = audit.timeline(engine(app), loaded.id)
    assert note["kind"] == "update" and "not reloaded" in note["detail"]["text"]


def test_console_timeline_shows_each_step(make_app, db_url):
    """The lead page lists the opt-out, the change of status and the Engage jobs in words."""
    from tests.admin.helpers import TOKEN

    app = make_app(CONFIG, db_url, ADMIN_TOKEN=TOKEN)
    client = app.test_client()
    client.post("/webhooks/salesforce", data=SF_LEAD, headers=SF_HEADERS)
    (lead,) = rows(app, source="salesforce")
    set_status(app, lead.id, LeadStatus.DELIVERED)
    client.post("/webhooks/salesforce", data=SF_DNC, headers=SF_HEADERS)
    page = client.get(f"/admin/leads/{lead.id}", headers={"Authorization": f"Bearer {TOKEN}"}).get_data(as_text=True)
    assert "opted_out" in page and "CANCEL_LEADS queued for Engage" in page and "Engage job" in page


def test_a_number_added_by_hand_blocks_and_goes_to_engage(make_app, db_url):
    """The admin API's add: pending leads with that number blocked, one live engage.dnc_add job."""
    from tests.admin.helpers import TOKEN

    app = make_app(CONFIG, db_url, ADMIN_TOKEN=TOKEN)
    client = app.test_client()
    waiting = web_lead(client, "w-7", "+44 20 7946 0018")
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    answer = client.post("/admin/api/dnc", json={"phone": "+442079460018", "reason": "asked by email"}, headers=bearer)
    assert answer.json == {"phone": "+442079460018", "changed": True}
    assert rows(app, id=waiting["lead_id"])[0].status == LeadStatus.BLOCKED
    (job,) = jobs(app, ENGAGE_DNC_ADD)
    assert job.payload["phones"] == ["+442079460018"] and job.priority == PRIORITY_LIVE
    # Adding it again changes nothing and sends nothing.
    assert client.post("/admin/api/dnc", json={"phone": "+442079460018"}, headers=bearer).json["changed"] is False
    assert len(jobs(app, ENGAGE_DNC_ADD)) == 1
