"""The lead's gate decisions in GET /admin/api/leads/<id> and the console's "Compliance" section."""

from __future__ import annotations

import time

from store import compliance as evidence
from store.db import write
from tests.admin.helpers import CONFIG, TOKEN, post_lead

BEARER = {"Authorization": f"Bearer {TOKEN}"}


def test_api_and_console_show_every_gate_decision(make_app, db_url):
    app = make_app(CONFIG, db_url, ADMIN_TOKEN=TOKEN)
    client = app.test_client()
    post_lead(client, 1)
    now = time.time()
    window = {"calling_window": {"loadable": False, "rule": "FL 08:00-20:00 — Fla. Stat. 501.616(6) in America/New_York",
                                 "next_opening": now + 3600, "local_times": {"America/New_York": "2026-12-07 21:10 EST Mon"}},
              "frequency_cap": {"loads_24h": 0, "cap": 1, "state": "FL"}, "do_not_call": {"on_list": False},
              "consent": {"why": "consent not required for this campaign", "outcome": "allow"}}  # fmt: skip
    with write(app.extensions["leadrelay"].engine) as conn:
        evidence.record(conn, [
            evidence.EvidenceRow(1, "hubspot", "x", ["+13035550001"], None, None, "calling_window", "defer", window, now, 1825),
            evidence.EvidenceRow(1, "hubspot", "x", ["+13035550001"], None, "a" * 40, "retain", "unavailable",
                                 {"verdict": "unavailable", "status": 401, "reason": "Authentication failed"}, now + 1, 1825),
        ])  # fmt: skip
    answer = client.get("/admin/api/leads/1", headers=BEARER).get_json()
    assert [(c["gate"], c["decision"]) for c in answer["compliance"]] == [
        ("calling_window", "defer"),
        ("retain", "unavailable"),
    ]
    assert answer["compliance"][0]["detail"]["frequency_cap"]["cap"] == 1
    page = client.get("/admin/leads/1", headers=BEARER).get_data(as_text=True)
    assert 'id="compliance"' in page and "FL 08:00-20:00" in page and "2026-12-07 21:10 EST Mon" in page
    assert "TrustedForm unavailable (HTTP 401): Authentication failed" in page
    assert "cap: 0 load(s) in 24 h of 1 (FL)" in page and "not on the list" in page
    assert "+13035550001" not in page  # masked like every phone on the console


def test_overview_counts_todays_deferred_and_blocked_leads_by_reason(make_app, sqlite_url):
    app = make_app(CONFIG, sqlite_url, ADMIN_TOKEN=TOKEN)
    client = app.test_client()
    assert "No lead deferred or blocked by a gate today." in client.get("/admin/", headers=BEARER).get_data(
        as_text=True
    )
    now = time.time()
    rows = [evidence.EvidenceRow(i, "hubspot", str(i), [], None, None, gate, decision, {}, now, 1825)
            for i, gate, decision in [(1, "calling_window", "defer"), (1, "calling_window", "defer"),
                                      (2, "calling_window", "defer"), (3, "do_not_call", "block"),
                                      (4, "load", "load"), (5, "calling_window", "defer")]]  # fmt: skip
    rows[-1] = evidence.EvidenceRow(
        5, "hubspot", "5", [], None, None, "calling_window", "defer", {}, now - 2 * 86400, 1825
    )
    with write(app.extensions["leadrelay"].engine) as conn:
        evidence.record(conn, rows)
    page = client.get("/admin/", headers=BEARER).get_data(as_text=True)
    section = page[page.index('id="gates"') :]
    assert "<td>deferred</td><td><code>calling_window</code></td><td>2</td>" in section  # leads, not decisions
    assert "<td>blocked</td><td><code>do_not_call</code></td><td>1</td>" in section
    assert "<code>load</code>" not in section
