"""The console a newcomer met (issue 19 item 6): primary phone's last four, an invalid record's id, the
matched route on the timeline, no service state before login, plurals — Flask client, SQLite and PostgreSQL."""

from __future__ import annotations

import re
import time

import pytest
from sqlalchemy import text

from store.db import write

TOKEN = "admin-test-token"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
SOURCE = {"X-Leadrelay-Token": "site-token"}
CONFIG = """
sources:
  website:
    type: generic
    token: site-token
    routes:
      - name: hot
        when: {score: {gte: 90}}
        priority: IMMEDIATE
      - when: {score: {gte: 50}}
        priority: NORMAL
"""


@pytest.fixture
def app(make_app, db_url):
    """The app with ADMIN_TOKEN on a fresh database."""
    return make_app(CONFIG, db_url, ADMIN_TOKEN=TOKEN)


def post(app, body: dict) -> dict:
    """POST a lead through the webhook endpoint; the answer's first lead."""
    response = app.test_client().post("/webhooks/website", json=body, headers=SOURCE)
    assert response.status_code == 202, response.json
    return response.json["leads"][0]


def lead_page(app, lead_id: int) -> str:
    """The lead's console page, quotes unescaped."""
    return app.test_client().get(f"/admin/leads/{lead_id}", headers=BEARER).get_data(as_text=True).replace("&#34;", '"')


def test_two_phones_show_each_numbers_own_last_four(app):
    """leadPhone `3035550142|7205550117`: the primary's last four first (what search finds), not the second's alone."""
    entry = post(app, {"id": "L-1", "phone": "303-555-0142", "mobile": "720-555-0117"})
    page = lead_page(app, entry["lead_id"])
    assert '"leadPhone": "***0142|***0117"' in page
    assert "3035550142" not in page and "7205550117" not in page
    found = app.test_client().get("/admin/leads?q=0142", headers=BEARER).get_data(as_text=True)
    assert f'href="/admin/leads/{entry["lead_id"]}"' in found


def test_invalid_lead_shows_the_records_id(app):
    """No dialable phone: the lead is invalid, and the list and page name it by the record's id."""
    answer = app.test_client().post("/webhooks/website", json={"id": "L-404", "phone": "not a number"}, headers=SOURCE)
    assert answer.status_code == 422 and answer.json["records"][0]["externId"] == "L-404"
    [entry] = app.test_client().get("/admin/api/leads?status=invalid", headers=BEARER).json["leads"]
    entry["lead_id"] = entry["id"]
    listing = app.test_client().get("/admin/leads?status=invalid", headers=BEARER).get_data(as_text=True)
    assert ">L-404</a>" in listing and "(none)" not in listing
    assert "<h1>Lead L-404 " in lead_page(app, entry["lead_id"])
    api = app.test_client().get(f"/admin/api/leads/{entry['lead_id']}", headers=BEARER).json
    assert api["extern_id"] == "L-404"


@pytest.mark.parametrize(
    ("score", "said"),
    [
        (95, "route 1 <q>hot</q> matched:"),
        (60, "route 2 matched:"),
        (10, "no route matched, the source's fallback:"),
    ],
)
def test_timeline_names_the_matched_route(app, score, said):
    """The route stored at routing time (name and position), so an edited config does not rewrite history."""
    entry = post(app, {"id": f"L-{score}", "phone": "3035550142", "score": score})
    route = re.search(r'<li id="route">(.*?)</li>', lead_page(app, entry["lead_id"]), re.S)
    assert route and said in route.group(1)


def test_login_page_shows_no_service_state(app):
    """Sandbox/live, dispatcher, backlog and alerts are for operators: none of it before login."""
    page = app.test_client().get("/admin/login").get_data(as_text=True)
    assert 'id="status"' not in page
    for word in ("SANDBOX", "dispatcher", "backlog", "open alert", "database unreachable"):
        assert word not in page, word
    after = app.test_client().get("/admin", headers=BEARER).get_data(as_text=True)
    assert 'id="status"' in after and "SANDBOX" in after


def test_counts_have_their_plurals(app):
    """One delivered lead reads `(1 lead)`, no open alert reads `0 open alerts`."""
    entry = post(app, {"id": "L-1", "phone": "3035550142", "score": 95})
    now = time.time()
    with write(app.extensions["leadrelay"].engine) as conn:
        conn.execute(
            text("UPDATE leads SET status='delivered', delivered_at=:t, received_at=:r WHERE id=:id"),
            {"t": now, "r": now - 0.5, "id": entry["lead_id"]},
        )
    page = app.test_client().get("/admin", headers=BEARER).get_data(as_text=True)
    assert "(1 lead)" in page and "(1 leads)" not in page
    assert ">0 open alerts<" in page
