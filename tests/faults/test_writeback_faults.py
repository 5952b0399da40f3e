"""Write-back through a CRM outage and a kill -9 of the worker, end to end.

gunicorn (web) + `flask dispatch run` (the worker that runs the outbox) + the fake Engage process
+ the HubSpot fake and a Standard Webhooks receiver on loopback. Leads come in from HubSpot, are
loaded, RingCX reports a call on each; HubSpot is down for the outage (3 s in `make test`, 3 minutes
under LEADRELAY_SOAK=1), the worker is killed with -9 in the middle, a new one takes over. Then:
every attempt is one call in HubSpot (none lost, none twice, one answer lost on purpose and found
again) and one verified webhook per attempt (retries with the same webhook-id)."""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

import pytest
import requests
from sqlalchemy import create_engine, text
from standardwebhooks.webhooks import Webhook

from harness.fake_hubspot import FakeHubSpot
from harness.processes import ServiceProcess, wait_for
from harness.webhook_receiver import WebhookReceiver
from tests.builders import fixture_bytes
from tests.faults.matrix import SOAK
from tests.figures import FIGURES
from tests.stack import lead_body, post, stop_all

# Real processes: gunicorn, dispatcher workers, the fake Engage and CRMs on loopback.
pytestmark = pytest.mark.process

pytestmark = pytest.mark.soak  # the fault matrix's lane: short in `make test`, 3 minutes in `make soak`
OUTAGE = 180.0 if SOAK else 3.0
LEADS = 6
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
TOKEN = "pat-e2e"
CONFIG = """
defaults:
  campaign: "Inbound Leads"
  suppress_within: 0
dispatch:
  lease_seconds: 2
  poll_interval: 0.3
  backoff_base: 0.2
  backoff_cap: 2s
  outage_probe_cap: 2s
sources:
  hubspot:
    type: hubspot
    token: e2e-token
    writeback:
      timeout: 1s
      hubspot: {{access_token: {token}, api_base_url: "{hubspot}"}}
      webhook: {hook}
      secret: {secret}
  ringcx:
    type: ringcx
    token: rc-token
"""


def dial(web: ServiceProcess, n: int) -> None:
    """RingCX reports a call on lead n (the recorded agent-termination body, this lead's ids)."""
    body = json.loads(fixture_bytes("ringcx/agent_termination.json"))
    body.update(uii=f"uii-{n}", extern_id=str(90000000 + n), campaign_id="", ani=f"303555{n:04d}")
    response = requests.post(f"{web.url}/webhooks/ringcx?token=rc-token", json=body, timeout=10)
    assert response.status_code == 202 and response.json()["attempts"][0]["status"] == "recorded", response.text


def jobs(db_url: str) -> Counter:
    """Write-back jobs by state."""
    engine = create_engine(db_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT state, COUNT(*) FROM jobs WHERE kind LIKE 'writeback.%' GROUP BY state"))
        found = Counter({r[0]: r[1] for r in rows})
    engine.dispose()
    return found


def found_again(db_url: str) -> int:
    """HubSpot jobs settled by the lookup (their answer was lost; found, not resent)."""
    engine = create_engine(db_url)
    with engine.connect() as conn:
        results = conn.execute(text("SELECT result FROM jobs WHERE kind = 'writeback.hubspot'")).scalars().all()
    engine.dispose()
    return sum(1 for r in results if r and "found_by_lookup" in r)


@pytest.mark.timeout(OUTAGE + 150)  # the outage itself, then start-up and the drain
def test_writeback_survives_a_crm_outage_and_a_kill_9(tmp_path, stack, sqlite_url):
    """No attempt lost, none written twice in HubSpot; every webhook try verifies; all after one outage and a crash."""
    with FakeHubSpot(token=TOKEN) as hubspot, WebhookReceiver() as hook:
        for n in range(LEADS):
            hubspot.add_contact(str(90000000 + n), firstname=f"Lead {n}")
        (tmp_path / "leadrelay.yml").write_text(
            CONFIG.format(token=TOKEN, hubspot=hubspot.url, hook=hook.url, secret=SECRET)
        )
        running = stack(sqlite_url, workers=1)
        fake, web = running.fake, running.web
        try:
            for n in range(LEADS):
                assert post(web, lead_body(n)).status_code == 202
            wait_for(lambda: len(fake.leads()) == LEADS, 30, message="leads loaded")
            hubspot.server.stop()
            began = time.monotonic()
            for n in range(LEADS):
                dial(web, n)
            time.sleep(min(OUTAGE / 2, 30.0))
            running.workers[0].kill9()  # mid-outage: jobs claimed or waiting, none may be lost
            running.add_worker()
            time.sleep(max(0.0, OUTAGE - (time.monotonic() - began)))
            hubspot.hang_after_create(2.0)  # the first call after the outage: created, its answer lost
            hubspot.server.start()
            wait_for(
                lambda: jobs(sqlite_url).get("done", 0) == 2 * LEADS,
                60 + OUTAGE,
                interval=0.3,
                message="all written back",
            )
        finally:
            stop_all(running.procs)  # before the CRM fakes close: nothing calls them half torn down
        calls = Counter(c["properties"]["hs_call_external_id"] for c in hubspot.calls.values())
        contacts = sorted(c["associations"][0]["to"]["id"] for c in hubspot.calls.values())
    assert len(calls) == LEADS and set(calls.values()) == {1}, calls
    assert found_again(sqlite_url) >= 1  # the call whose answer was lost was found, not created twice
    assert contacts == sorted(str(90000000 + n) for n in range(LEADS))
    verifier = Webhook(SECRET)
    delivered: dict[str, Any] = {}
    for request in hook.received:
        headers = {k.lower(): v for k, v in request["headers"].items()}
        data = verifier.verify(request["body"], headers)
        delivered.setdefault(headers["webhook-id"], data)
    assert len(delivered) == LEADS and {d["externId"] for d in delivered.values()} == {
        str(90000000 + n) for n in range(LEADS)
    }
    FIGURES.append(
        f"write-back: {LEADS} attempts through a {OUTAGE:.0f} s HubSpot outage and a kill -9: "
        f"{len(hubspot.calls)} calls in HubSpot ({found_again(sqlite_url)} found again after a lost answer), "
        f"{len(hook.received)} webhook tries for {len(delivered)} messages"
    )
