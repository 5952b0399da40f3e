"""An opt-out end to end on real sockets, on SQLite and PostgreSQL: webhooks through the real intake, the
dispatcher with its job lane and claim-time gates, the fake Engage. Counted at the far end: the fake's DNC
list, its lead actions, what it would still dial."""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from werkzeug.datastructures import Headers

from config import load_file
from config.compliance import gate_settings
from dispatch.gating import Gatekeeper
from dispatch.runner import Dispatcher
from dispatch.wakeup import Waker
from handlers.base import Inbound
from harness.processes import wait_for
from intake import Intake
from lead.lifecycle import LeadReason, LeadStatus
from tests.conftest import fixture_bytes, fixture_meta
from tests.dispatch.helpers import DISPATCH, backend_for, delivered

SF_LEAD = fixture_bytes("salesforce/outbound_lead_hot.xml")
SF_DNC = fixture_bytes("salesforce/outbound_lead_donotcall.xml")
SF_HEADERS = fixture_meta("salesforce/outbound_lead_hot.xml")["headers"]
CONFIG = """
defaults:
  campaign: "Inbound Leads"
  suppress_within: 0
sources:
  salesforce:
    type: salesforce
    organization_id: "00D5e000000AbCdEAK"
    routes:
      - when: {Rating: Hot}
        priority: IMMEDIATE
        campaign: "Hot Inbound"
  web:
    type: generic
    token: web-token-long-enough
    priority: IMMEDIATE
    campaign: "Hot Inbound"
"""


def post(intake, sources, name, body, headers):
    """One webhook through the real intake (verify, parse, lifecycle, prepare, persist)."""
    url = f"https://leads.example.com/webhooks/{name}"
    content_type = headers.get("Content-Type", "")
    inbound = Inbound("POST", url, urlsplit(url).path, {}, Headers(headers), body, content_type)
    return intake.handle(sources[name], inbound, time.time())


def status_of(engine, extern: str) -> tuple[str, str | None]:
    """(status, status_reason) of the newest lead with this externId."""
    from sqlalchemy import text

    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT status, status_reason FROM leads WHERE extern_id = :e ORDER BY id DESC LIMIT 1"), {"e": extern}
        ).one()
    return row[0], row[1]


def test_opt_out_reaches_engage_and_the_number_is_never_loaded_again(engine, fake, tmp_path):
    """A loaded Salesforce lead, then DoNotCall: Engage lists both numbers and cancels the lead (externId,
    campaign, numbers); the same person's mobile from another source is answered `queued` and never loaded."""
    path = tmp_path / "leadrelay.yml"
    path.write_text(CONFIG)
    sources = load_file(path, environ={}).sources
    waker, stop = Waker(), threading.Event()
    # Gates as `compliance: {calling_hours: off}` builds them, on a clock standing at 21:30 Eastern:
    # the settings this test once built by hand kept the windows on, so it failed every evening.
    settings = gate_settings({"calling_hours": "off"}, None, "leadrelay.yml")
    evening = datetime(2026, 12, 8, 2, 30, tzinfo=UTC).timestamp()  # 21:30 in New York, 18:30 in LA
    gates = Gatekeeper(engine, lambda source: settings, None, clock=lambda: evening)
    dispatcher = Dispatcher(
        engine, {**DISPATCH, "call_timeout": 1.0, "outage_probe_cap": 0.5}, backend_for(fake), waker, gates=gates
    )
    thread = threading.Thread(target=dispatcher.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_for(lambda: dispatcher.lease.epoch is not None, 5, message="leadership")
        intake = Intake(engine, sandbox=False, wake=waker.wake)
        post(intake, sources, "salesforce", SF_LEAD, SF_HEADERS)
        wait_for(lambda: delivered(fake) == ["00Q5e00000AbCdEFGH"], 10, message="lead loaded")
        # Settled too: an opt-out that finds its lead still in flight cancels it a minute later
        # (store/optouts.py SENDING_GRACE), once the call must have ended.
        wait_for(lambda: status_of(engine, "00Q5e00000AbCdEFGH")[0] == LeadStatus.DELIVERED, 10, message="settled")
        assert len(fake.dialable()) == 1

        started = time.time()
        post(intake, sources, "salesforce", SF_DNC, SF_HEADERS)
        waker.wake()
        wait_for(lambda: {e["phone"] for e in fake.dnc_entries()} == {"3035550142", "7205550117"}, 10, message="DNC")
        # Not dialable (its numbers are listed), and cancelled by the lead action.
        wait_for(lambda: fake.dialable() == [] and fake.action_log(), 10, message="lead cancelled")
        took = time.time() - started
        (action,) = fake.action_log()
        assert action["action"] == "CANCEL_LEADS"
        assert action["criteria"]["externIds"] == ["00Q5e00000AbCdEFGH"]
        assert action["criteria"]["campaignIds"] == [fake.campaign_id("Hot Inbound")]
        assert sorted(action["criteria"]["leadPhoneNumbers"]) == ["3035550142", "7205550117"]
        assert status_of(engine, "00Q5e00000AbCdEFGH")[0] == LeadStatus.OPTED_OUT
        assert took < 10, f"opt-out took {took:.1f} s to reach Engage"

        body = json.dumps({"id": "w-1", "phone": "(720) 555-0117"}).encode()
        answer = post(
            intake,
            sources,
            "web",
            body,
            {"Content-Type": "application/json", "X-Leadrelay-Token": "web-token-long-enough"},
        )
        assert answer.body["leads"][0]["status"] == "queued"  # no oracle
        waker.wake()
        wait_for(lambda: status_of(engine, "w-1")[0] == LeadStatus.BLOCKED, 10, message="blocked at the claim")
        assert status_of(engine, "w-1")[1] == LeadReason.DO_NOT_CALL
        assert "w-1" not in delivered(fake)
        assert not [e for e in fake.dnc_log() if e["duplicate"]]  # each number accepted once
    finally:
        stop.set()
        waker.wake()
        thread.join(10)
