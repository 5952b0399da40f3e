"""GET /admin/api/leads/<id> shows the lifecycle: status, status_reason, unknown_fate, next_attempt_at while waiting."""

from __future__ import annotations

import pytest

from lead.lifecycle import LeadReason, LeadStatus
from store.lease import Lease
from store.queue import Settlement
from tests.admin.helpers import CONFIG, TOKEN, post_lead

AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def app(make_app, db_url):
    """The app (no dispatcher running) with three leads."""
    application = make_app(CONFIG, db_url, ADMIN_TOKEN=TOKEN)
    client = application.test_client()
    for n in range(3):
        post_lead(client, n)
    return application


def lead(client, lead_id: int) -> dict:
    """One lead as the API answers it."""
    response = client.get(f"/admin/api/leads/{lead_id}", headers=AUTH)
    assert response.status_code == 200, response.json
    return response.json


def test_a_lead_shows_why_and_when_it_waits(app):
    runtime = app.extensions["leadrelay"]
    client = app.test_client()
    fresh = lead(client, 1)
    assert fresh["status"] == "queued" and fresh["status_reason"] is None and fresh["unknown_fate"] is False
    assert fresh["next_attempt_at"] == 0.0  # due at once

    epoch = Lease(runtime.engine, "test", ttl=30).acquire()
    claimed = [c for lane in ("IMMEDIATE", "NORMAL") for c in runtime.queue.claim(epoch, "test", lane, 2, claim_ttl=30)]
    assert len(claimed) >= 2
    first, second = sorted(c.id for c in claimed)[:2]
    runtime.queue.settle(
        epoch,
        [
            Settlement(
                first,
                LeadStatus.RETRYING,
                error="fate unknown: Engage unavailable: read timeout",
                delay=60,
                reason=LeadReason.OUTAGE,
                unknown_fate=True,
            ),
            Settlement(second, LeadStatus.DELIVERED),
        ],
    )
    waiting = lead(client, first)
    assert waiting["status"] == "retrying" and waiting["status_reason"] == "outage"
    assert waiting["unknown_fate"] is True and waiting["next_attempt_at"] > waiting["updated_at"] + 50
    done = lead(client, second)
    assert done["status"] == "delivered" and done["status_reason"] is None and done["next_attempt_at"] is None

    # The outage ends: the lead waiting for it (by its reason, not its error text) is due at once.
    assert runtime.queue.expedite(LeadReason.OUTAGE) == 1
    assert lead(client, first)["next_attempt_at"] == 0.0

    # The account is held: the waiting leads say which hold; a held lead has no due time.
    assert runtime.queue.hold_queued(None, "Engage authentication failed: 401") >= 1
    held = lead(client, first)
    assert held["status"] == "held" and held["status_reason"] == "account_hold" and held["next_attempt_at"] is None
    assert held["unknown_fate"] is True  # still to be looked up before it is resent


def test_the_openapi_document_lists_the_lifecycle(app):
    spec = app.test_client().get("/admin/api/openapi.json", headers=AUTH).json
    lead_schema = spec["components"]["schemas"]["Lead"]["properties"]
    assert lead_schema["status"]["enum"] == [s.value for s in LeadStatus]
    assert set(lead_schema["status_reason"]["enum"]) >= {r.value for r in LeadReason}
    assert lead_schema["unknown_fate"]["type"] == "boolean"
    parameters = spec["paths"]["/admin/api/leads"]["get"]["parameters"]
    (status,) = [p for p in parameters if p["name"] == "status"]
    assert status["schema"]["enum"] == [s.value for s in LeadStatus]


def test_the_console_shows_the_reason(app):
    runtime = app.extensions["leadrelay"]
    client = app.test_client()
    epoch = Lease(runtime.engine, "test", ttl=30).acquire()
    (claimed,) = [
        c for lane in ("IMMEDIATE", "NORMAL") for c in runtime.queue.claim(epoch, "test", lane, 1, claim_ttl=30)
    ][:1]
    runtime.queue.settle(
        epoch,
        [Settlement(claimed.id, LeadStatus.RETRYING, error="x", delay=60, reason=LeadReason.OUTAGE, unknown_fate=True)],
    )
    html = client.get(f"/admin/leads/{claimed.id}", headers=AUTH).get_data(as_text=True)
    assert "retrying (outage)" in html and "looked up in Engage before any resend" in html and "next try" in html
    assert 'class="pill "' in html  # waiting: neither green nor red
    runtime.queue.hold_queued(None, "Engage authentication failed: 401")
    other = next(r for r in runtime.queue.list() if r["status"] == "held")
    assert "held (account_hold)" in client.get(f"/admin/leads/{other['id']}", headers=AUTH).get_data(as_text=True)
