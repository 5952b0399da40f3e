"""The console's dialer views: attempts and first-dial milestones on the lead page, unmatched events, the overview chart."""

from __future__ import annotations

import pytest

from metrics import SNAPSHOTS
from tests.intake.helpers import RINGCX_CONFIG, dial, loaded_lead, post

TOKEN = "admin-test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def service(make_app, db_url):
    """The app with a form source, a ringcx source and ADMIN_TOKEN."""
    app = make_app(RINGCX_CONFIG, db_url, ADMIN_TOKEN=TOKEN)
    return app, app.test_client(), app.extensions["leadrelay"].engine


def test_lead_page_shows_attempts_and_links_only_https_recordings(service):
    """Two recorded events on one lead: dispositions, agent, the https recording as a link, an http one as text."""
    _, http, engine = service
    lead_id = loaded_lead(http, engine, "hs-contact-901", "3035550142")
    assert post(http, "agent_termination.json").status_code == 202
    assert post(http, "post_disposition.form").status_code == 202
    body = http.post(
        "/webhooks/dialer?token=rc-token",
        json={
            "event": "post_disposition",
            "uii": "u-http",
            "extern_id": "hs-contact-901",
            "agent_disposition": "Callback",
            "recording_url": "http://recordings.example.com/plain.wav",
        },
    )
    assert body.status_code == 202
    html = http.get(f"/admin/leads/{lead_id}", headers=BEARER).get_data(as_text=True)
    assert html.count('class="dial"') == 3
    assert "Dialer post_disposition" in html and "Sale" in html and '<span class="pill">final</span>' in html
    assert 'href="https://recordings.example.com/r/202612071503340136000000000123.wav"' in html
    assert 'href="http://recordings.example.com/plain.wav"' not in html and "not https, not linked" in html
    assert 'id="first-dial-milestones"' in html


def test_unmatched_events_are_listed(service):
    """An event no lead matches is on /admin/dialer (phone masked); a matched one is not."""
    _, http, engine = service
    loaded_lead(http, engine, "hs-contact-901", "3035550142")
    post(http, "agent_termination.json")  # matched
    post(http, "post_disposition.json")  # unmatched (unfilled tags, unknown number)
    html = http.get("/admin/dialer", headers=BEARER).get_data(as_text=True)
    assert html.count("<tr><td>") == 1 and "202612071611090136000000000456" in html
    assert "202612071503340136000000000123" not in html and "3035550199" not in html
    assert http.get("/admin/dialer").status_code in (302, 401)  # not without auth
    assert http.get("/admin/dialer?before=abc", headers=BEARER).status_code == 400


def test_overview_has_the_first_dial_chart_and_table(service):
    """The overview draws received → first attempt and lists p50/p90 per source and campaign."""
    _, http, engine = service
    loaded_lead(http, engine, "lead-1", "3035550101")
    dial(http, "uii-1", "lead-1")
    SNAPSHOTS._entries.clear()
    html = http.get("/admin", headers=BEARER).get_data(as_text=True)
    assert 'id="first-dial-chart"' in html and "Received → first attempt p50 / p90" in html
    assert "<polyline" in html.split('id="first-dial-chart"')[1].split("</figure>")[0]
    assert "<td>web</td><td>Hot Inbound</td><td>1h</td><td>1</td>" in html


def test_lead_page_shows_write_back_state(make_app, db_url):
    """A source with `writeback:`: each attempt's job appears with its state (pending until the job lane runs)."""
    config = RINGCX_CONFIG.replace(
        "  dialer:\n",
        "    writeback: {webhook: https://hooks.example.com/calls, secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw}\n  dialer:\n",
    )
    app = make_app(config, db_url, ADMIN_TOKEN=TOKEN)
    http, engine = app.test_client(), app.extensions["leadrelay"].engine
    lead_id = loaded_lead(http, engine, "hs-contact-901", "3035550142")
    post(http, "agent_termination.json")
    html = http.get(f"/admin/leads/{lead_id}", headers=BEARER).get_data(as_text=True)
    assert "write-back to webhook: <strong>pending</strong>" in html, html[html.find("write-back to") :][:200]
