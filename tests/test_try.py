"""`./leadrelay try SOURCE FILE`: verify, parse, map and route a sample; nothing stored, nothing loaded (issue 19).

Through the real command on SQLite; the live campaign check against the fake Engage as a process.
"""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import func, select

from harness.processes import FakeEngageProcess
from store.ingest import PendingLead, store_webhook
from store.schema import events, leads
from tests.lanes import process_fixture

CONFIG = """
defaults:
  campaign: "Inbound Leads"
sources:
  website:
    type: generic
    token: site-token
    routes:
      - name: hot
        when: {hubspotscor: {gte: 80}}
        priority: IMMEDIATE
        campaign: "Hot Inbound"
      - when: {score: {gte: 50}}
        priority: NORMAL
        campaign: "Spring Promo"
"""
SAMPLE = {
    "id": "L-1001",
    "name": "Ada Example",
    "phone": "(303) 555-0142",
    "email": "Ada@Example.com",
    "address": {"street": "1600 Blake St", "zip": "80202"},
    "score": 72,
}


def rows(app, table) -> int:
    """How many rows a table holds."""
    with app.extensions["leadrelay"].engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def run_try(app, tmp_path, *args: str, body: dict | None = None):
    """`try website <sample file> …` through the CLI."""
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps(body or SAMPLE))
    return app.test_cli_runner().invoke(args=["try", "website", str(sample), *args])


def test_try_shows_the_lead_the_route_and_why_the_others_did_not_match(make_app, sqlite_url, tmp_path):
    """The record, the Engage lead, the matched route, each refused route's reason, the dropped field."""
    app = make_app(CONFIG, sqlite_url)
    result = run_try(app, tmp_path)
    assert result.exit_code == 0, result.output
    out = result.output.splitlines()
    lead = json.loads(next(line for line in out if line.startswith("  Engage lead: ")).split(": ", 1)[1])
    assert lead == {
        "externId": "L-1001",
        "leadPhone": "3035550142",
        "email": "ada@example.com",
        "firstName": "Ada",
        "lastName": "Example",
    }
    assert "  status: queued (priority NORMAL, campaign 'Spring Promo')" in out
    assert "  route 1 (hot): no: hubspotscor absent from this payload; the route wants {'gte': 80}" in out
    assert "  route 2: matched" in out
    assert any(line.startswith("  left out of the lead: address1: address is an object") for line in out)
    assert rows(app, events) == 0 and rows(app, leads) == 0  # nothing stored


def test_a_misspelt_route_field_is_flagged_unless_recent_webhooks_carry_it(make_app, sqlite_url, tmp_path):
    """`hubspotscor` is in neither the sample nor the last 7 days' records: warned; once a record had it, not."""
    app = make_app(CONFIG, sqlite_url)
    warning = "warning: route field 'hubspotscor' is not in this payload"
    assert warning in run_try(app, tmp_path).output
    store_webhook(
        app.extensions["leadrelay"].engine,
        source="website",
        received_at=time.time() - 3600,
        method="POST",
        path="/webhooks/website",
        content_type="application/json",
        headers={},
        body=b"{}",
        remote_addr="",
        event_status="accepted",
        reason=None,
        sandbox=True,
        pending=[
            PendingLead(
                status="invalid",
                priority="NORMAL",
                campaign=None,
                record_key="k:old",
                key_expires_at=None,
                record={"id": "old", "hubspotscor": 90},
            )
        ],
    )
    assert "route field 'hubspotscor'" not in run_try(app, tmp_path).output


def test_verify_says_where_the_token_goes(make_app, sqlite_url, tmp_path):
    """--verify runs the authenticate step: a wrong token gets the 401 a webhook would get, a right one `ok`."""
    app = make_app(CONFIG, sqlite_url)
    refused = run_try(app, tmp_path, "--verify", "--header", "X-Leadrelay-Token: nope")
    assert "credentials: 401 invalid_token: the token goes in the X-Leadrelay-Token header" in refused.output
    passed = run_try(app, tmp_path, "--verify", "--header", "X-Leadrelay-Token: site-token")
    assert "credentials: ok" in passed.output


def test_an_invalid_sample_says_why(make_app, sqlite_url, tmp_path):
    """No dialable phone: status invalid with the reason; still nothing stored."""
    app = make_app(CONFIG, sqlite_url)
    result = run_try(app, tmp_path, body={"id": "L-9", "phone": "call me"})
    assert "  status: invalid" in result.output
    assert "  why invalid: leadPhone: no dialable phone number in phone, mobile" in result.output
    assert rows(app, leads) == 0


@pytest.fixture
@process_fixture
def fake():
    """The fake Engage as live Engage (its campaigns: Inbound Leads, Hot Inbound)."""
    process = FakeEngageProcess().start()
    yield process
    process.stop()


@pytest.mark.process  # the fake Engage runs as its own process on loopback
def test_a_campaign_live_engage_lacks_is_warned(make_app, sqlite_url, tmp_path, fake):
    """With credentials set the routed campaign is looked up in live Engage: `Spring Promo` does not exist there."""
    app = make_app(CONFIG, sqlite_url, **fake.env())
    result = run_try(app, tmp_path)
    assert result.exit_code == 0, result.output
    assert "warning: campaign 'Spring Promo' does not exist in live Engage" in result.output
    hot = run_try(app, tmp_path, body={**SAMPLE, "hubspotscor": 95})
    assert "route 1 (hot): matched" in hot.output and "does not exist" not in hot.output
    assert fake.leads() == []  # nothing loaded


GATED = (
    CONFIG
    + """
compliance:
  max_loads_per_24h: {CO: 2}
"""
)
# Tuesday 2026-12-08 11:00 in Denver (MST, UTC-7): inside every calling window.
DENVER_11AM = 1796752800.0


@pytest.mark.parametrize(
    ("loads", "verdict"),
    [(0, "load now"), (2, "blocked: frequency_cap: 2 load(s) in 24 h, CO allows 2")],
)
def test_try_runs_the_compliance_gates_read_only(make_app, sqlite_url, loads, verdict):
    """The gates decide as the dispatcher would now (the caps count the phone's loads); nothing is recorded."""
    from handlers.base import Inbound
    from trial import describe, dry_run

    app = make_app(GATED, sqlite_url, ENGAGE_MODE="sandbox")
    runtime = app.extensions["leadrelay"]
    source = runtime.settings.file.sources["website"]
    body = json.dumps({**SAMPLE, "hubspotscor": 95}).encode()
    inbound = Inbound("POST", "http://x/webhooks/website", "/webhooks/website", {}, {}, body, "application/json")
    trial = dry_run(
        source,
        inbound,
        now=DENVER_11AM,
        gates=source.gates(None),  # windows on, as in live mode
        loads_24h=lambda phones: loads if phones == ["+13035550142"] else 0,
    )
    assert trial.records[0].gates == verdict
    assert f"  compliance gates: {verdict}" in describe(trial, sandbox=True)
    assert rows(app, leads) == 0 and rows(app, events) == 0


def test_try_says_a_listed_number_is_blocked(make_app, sqlite_url, tmp_path):
    """`try` reads the do-not-call list (read-only): a sample whose number is listed would be blocked."""
    from store import dnc

    app = make_app(GATED, sqlite_url, ENGAGE_MODE="sandbox")
    engine = app.extensions["leadrelay"].engine
    dnc.add_one(engine, "+13035550142", reason="texted STOP", source="sms", added_by="event:1", now=time.time())
    result = run_try(app, tmp_path, body={**SAMPLE, "hubspotscor": 95})
    assert "compliance gates: blocked: do_not_call" in result.output, result.output
    assert rows(app, leads) == 0 and rows(app, events) == 0
