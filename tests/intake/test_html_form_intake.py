"""html_form end to end through POST /webhooks/<source>: redirects, pages, honeypot, limits, origins."""

import pytest
from sqlalchemy import func, select

import handlers.html_form as html_form
from store.schema import events
from tests.builders import fixture_bytes, fixture_meta

BODY = fixture_bytes("html_form/contact_form.txt")
META = fixture_meta("html_form/contact_form.txt")

CONFIG = """
defaults:
  campaign: "Inbound Leads"
sources:
  form:
    type: html_form
    redirect_url: https://www.example.com/thanks
    priority: IMMEDIATE
  plain:
    type: html_form
    thank_you_message: "Merci, Zoë! We will call you."
    rate_limit: {per_ip: 2/1m, per_phone: false}
  guarded:
    type: html_form
    allowed_origins: [https://www.example.com]
    trust_forwarded_for: true
    rate_limit: {per_ip: 1/1m}
"""


@pytest.fixture(autouse=True)
def fresh_limits():
    """Rate-limit windows are per process: start each test empty."""
    html_form.reset_limits()
    yield
    html_form.reset_limits()


@pytest.fixture
def app(make_app, db_url):
    """The app with html_form sources on a fresh database."""
    return make_app(CONFIG, db_url)


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


def stored(app, source):
    """The source's stored leads, newest first."""
    return app.extensions["leadrelay"].queue.list(source=source)


def count(app, table):
    """Rows in a table."""
    with app.extensions["leadrelay"].engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def submit(client, path="/webhooks/form/contact", body=BODY, headers=None, **kwargs):
    """POST a browser form."""
    return client.post(path, data=body, headers=headers if headers is not None else META["headers"], **kwargs)


def test_fixture_redirects_303_and_stores_the_lead(app, client):
    """The fixture form: 303 to redirect_url; the lead as Engage will get it, server-generated externId."""
    response = submit(client)
    assert response.status_code == 303 and response.headers["Location"] == "https://www.example.com/thanks"
    [row] = stored(app, "form")
    assert row["status"] in ("queued", "sending", "delivered") and row["priority"] == "IMMEDIATE"
    lead = row["lead"]
    assert lead["externId"].startswith("web-") and lead["leadPhone"] == "3035550142"
    assert (lead["firstName"], lead["lastName"], lead["email"], lead["zip"]) == (
        "Ada",
        "Example",
        "ada.example@example.com",
        "80202",
    )
    assert row["record"]["message"] == "Please call me\r\nafter 5pm"


def test_double_submit_is_one_lead(app, client):
    """A double-click: the same thank-you answer, one lead."""
    assert submit(client).status_code == 303
    assert submit(client).status_code == 303
    assert len(stored(app, "form")) == 1 and count(app, events) == 2


def test_honeypot_looks_like_success_but_never_dials(app, client):
    """A filled honeypot: 303 like a person, stored `invalid` (reason honeypot), never queued."""
    response = submit(client, body=BODY.replace(b"website=", b"website=http%3A%2F%2Fspam.example"))
    assert response.status_code == 303 and response.headers["Location"] == "https://www.example.com/thanks"
    [row] = stored(app, "form")
    assert row["status"] == "invalid" and "honeypot" in row["errors"] and row["lead"] is None


def test_thank_you_page_and_invalid_page(app, client):
    """No redirect_url: a UTF-8 thank-you page; no phone: 422 page saying so, stored invalid."""
    response = submit(client, "/webhooks/plain", body=b"name=Ada&phone=3035550142")
    assert response.status_code == 200 and response.content_type == "text/html; charset=utf-8"
    assert "Merci, Zoë!" in response.get_data(as_text=True)
    response = submit(client, "/webhooks/plain", body=b"name=Ada&phone=later")
    assert response.status_code == 422 and "phone number" in response.get_data(as_text=True)
    newest = stored(app, "plain")[0]
    assert newest["status"] == "invalid" and "leadPhone" in newest["errors"]


def test_per_ip_limit_answers_429_and_stores_nothing(app, client):
    """The third post in a minute from one address: 429 page with Retry-After, nothing stored."""
    for i in range(2):
        assert submit(client, "/webhooks/plain", body=f"phone=30355501{i:02d}".encode()).status_code == 200
    before = count(app, events)
    response = submit(client, "/webhooks/plain", body=b"phone=3035550199")
    assert response.status_code == 429 and response.headers["Retry-After"] == "60"
    assert "text/html" in response.content_type and count(app, events) == before


def test_origin_allow_list_and_forwarded_for(app, client):
    """A foreign Origin: 401 page, nothing stored; the router's last X-Forwarded-For hop is the client."""
    evil = {"Content-Type": "application/x-www-form-urlencoded", "Origin": "https://evil.test"}
    response = submit(client, "/webhooks/guarded", body=b"phone=3035550142", headers=evil)
    assert response.status_code == 401 and count(app, events) == 0
    good = {**META["headers"], "X-Forwarded-For": "10.0.0.1, 203.0.113.5"}
    assert submit(client, "/webhooks/guarded", body=b"phone=3035550142", headers=good).status_code == 200
    # Same router-seen client, a forged first hop: still the same address → limited.
    again = {**META["headers"], "X-Forwarded-For": "10.9.9.9, 203.0.113.5"}
    assert submit(client, "/webhooks/guarded", body=b"phone=3035550143", headers=again).status_code == 429
    other = {**META["headers"], "X-Forwarded-For": "203.0.113.6"}
    assert submit(client, "/webhooks/guarded", body=b"phone=3035550144", headers=other).status_code == 200
