"""Try a payload on a source's console page (issue 19): a CSRF-protected POST, the same dry run as
`./leadrelay try`, nothing stored — Flask client, SQLite and PostgreSQL."""

from __future__ import annotations

import html
import json
import re

import pytest
from sqlalchemy import func, select

from store.schema import events, leads

TOKEN = "admin-test-token"
CONFIG = """
sources:
  website:
    type: generic
    token: site-token
    routes:
      - name: hot
        when: {hubspotscor: {gte: 80}}
        priority: IMMEDIATE
"""
SAMPLE = {"id": "L-7", "phone": "303-555-0142", "address": {"zip": "80202"}, "score": 91}


@pytest.fixture
def app(make_app, db_url):
    """The app with ADMIN_TOKEN on a fresh database."""
    return make_app(CONFIG, db_url, ADMIN_TOKEN=TOKEN)


def logged_in(app):
    """A browser session (cookie) and the try page's CSRF token."""
    client = app.test_client()
    assert client.post("/admin/login", data={"token": TOKEN, "next": "/admin/sources"}).status_code == 302
    page = client.get("/admin/sources/website/try").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert found, "no CSRF token on the try page"
    return client, found.group(1)


def stored(app) -> int:
    """Events and leads stored so far."""
    with app.extensions["leadrelay"].engine.connect() as conn:
        return sum(conn.execute(select(func.count()).select_from(t)).scalar() for t in (events, leads))


def test_pasted_payload_shows_the_dry_run(app):
    """The Engage lead (phone masked), the route verdicts, the left-out field and the misspelt route field."""
    client, csrf = logged_in(app)
    answer = client.post("/admin/sources/website/try", data={"csrf_token": csrf, "payload": json.dumps(SAMPLE)})
    assert answer.status_code == 200
    shown = re.search(r'<pre id="trial">(.*?)</pre>', answer.get_data(as_text=True), re.S)
    assert shown, "no dry run on the page"
    trial = html.unescape(shown.group(1))
    assert '"leadPhone": "***0142"' in trial and "3035550142" not in trial
    assert "route 1 (hot): no: hubspotscor absent from this payload" in trial
    assert "left out of the lead: address1: address is an object" in trial
    assert "warning: route field 'hubspotscor' is not in this payload" in trial
    assert "  compliance gates: load now" in trial  # sandbox: windows off; no cap for CO
    assert stored(app) == 0


def test_try_needs_a_session_and_its_csrf_token(app):
    """Without login the page redirects; a POST without the CSRF token is refused; an unknown source is 404."""
    anonymous = app.test_client()
    assert anonymous.get("/admin/sources/website/try").status_code == 302
    client, _csrf = logged_in(app)
    assert client.post("/admin/sources/website/try", data={"payload": "{}"}).status_code == 403
    assert client.get("/admin/sources/nope/try").status_code == 404
    listing = client.get("/admin/sources").get_data(as_text=True)
    assert 'href="/admin/sources/website/try"' in listing
