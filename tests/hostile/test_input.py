"""Issue 8's reproductions, one test per table row: hostile input is refused or stored, never a 5xx, never a
truncated lead, never a secret at rest (real SQLite and PostgreSQL through the Flask app)."""

from __future__ import annotations

import io
import json
import logging
import time
from typing import Any

import pytest
from sqlalchemy import func, select, text

from store.schema import events, leads
from tests.builders import fixture_bytes

DYN_HEADER_SECRET = "dyn-header-secret-0001"
DYN_QUERY_SECRET = "dyn-query-secret-0002"
ZOHO_TOKEN = "zt_7f3a9c2e5b1d4f6a8c0e2b4d6f8a0c2e"
CONFIG = f"""
defaults:
  campaign: "Inbound Leads"
  suppress_within: 0
sources:
  api:
    type: generic
    token: gen-token
    max_body: 4096
    fields: {{externId: id, leadPhone: phone, firstName: name}}
  bulk:
    type: generic
    token: gen-token
    fields: {{externId: id, leadPhone: phone}}
  crm:
    type: hubspot
    token: crm-token
  hs:
    type: hubspot
    client_secret: hs-secret-0123456789
  wf:
    type: webflow
    secret: wf-secret-0123456789
  sw:
    type: generic
    standard_webhooks: {{secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}
    fields: {{externId: id, leadPhone: phone}}
  sf:
    type: salesforce
    organization_id: 00D5e000000AbCdEAK
  dyn:
    type: dynamics
    header: {{name: x-dyn-key, value: {DYN_HEADER_SECRET}}}
  dynq:
    type: dynamics
    query: {{name: apikey2, value: {DYN_QUERY_SECRET}}}
  zoho:
    type: zoho
    token: {ZOHO_TOKEN}
    token_field: token
  form:
    type: html_form
"""
GEN = {"Content-Type": "application/json", "X-Leadrelay-Token": "gen-token"}


@pytest.fixture
def app(make_app, db_url):
    """The app on a fresh database (SQLite and PostgreSQL), admin enabled."""
    return make_app(CONFIG, db_url, ADMIN_TOKEN="admin-token")


@pytest.fixture
def client(app):
    """Flask test client."""
    return app.test_client()


def count(app, table, **where) -> int:
    """Rows of a table matching equality filters."""
    query = select(func.count()).select_from(table)
    for key, value in where.items():
        query = query.where(table.c[key] == value)
    with app.extensions["leadrelay"].engine.connect() as conn:
        return conn.execute(query).scalar()


def stored_events(app) -> list[dict]:
    """Every stored event row."""
    with app.extensions["leadrelay"].engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(events).order_by(events.c.id))]


# ---------------------------------------------------------------- a chunked body over max_body


def test_chunked_body_over_max_body_is_413_and_not_stored(client, app):
    """Before: cut at the limit, 200 and a lead queued with the end of the form lost."""
    body = json.dumps({"id": "c1", "phone": "3035550100", "name": "x" * 8000}).encode()
    response = client.post(
        "/webhooks/api", input_stream=io.BytesIO(body), headers={**GEN, "Transfer-Encoding": "chunked"}
    )
    assert response.status_code == 413
    assert response.get_json()["error"] == "body_too_large"
    assert count(app, events) == 0 and count(app, leads) == 0


def test_chunked_body_within_max_body_is_processed(client, app):
    """The bounded read does not cut a body that fits."""
    body = json.dumps({"id": "c2", "phone": "3035550100", "name": "y" * 1000}).encode()
    response = client.post(
        "/webhooks/api", input_stream=io.BytesIO(body), headers={**GEN, "Transfer-Encoding": "chunked"}
    )
    assert response.status_code == 202
    assert stored_events(app)[0]["body"] == body


# ---------------------------------------------------------------- nesting, dates, unsafe text


def test_json_nested_thousands_deep_is_stored_malformed(client, app):
    """Before: RecursionError → 500, nothing stored (a retrying sender retries for ever)."""
    body = b"[" * 5000 + b"]" * 5000
    response = client.post(
        "/webhooks/crm", data=body, headers={"Content-Type": "application/json", "X-Leadrelay-Token": "crm-token"}
    )
    assert response.status_code == 202
    assert response.get_json()["status"] == "malformed"
    assert stored_events(app)[0]["status"] == "malformed"


def test_json_nested_deeper_than_the_bound_is_malformed(client, app):
    """An object 100 deep parses, but the shape bound refuses it (developer sender: 400)."""
    inner: dict[str, Any] = {"id": "d1", "phone": "3035550100"}
    for _ in range(100):
        inner = {"n": inner}
    inner.update({"id": "d1", "phone": "3035550100"})
    response = client.post("/webhooks/api", data=json.dumps(inner), headers=GEN)
    assert response.status_code == 400
    assert "nested deeper" in response.get_json()["detail"]
    assert count(app, events, status="malformed") == 1


def test_salesforce_fields_nested_500_deep_get_the_ack(client, app):
    """Before: 500. Now stored malformed, and Salesforce gets its Ack (it would retry for 24 h)."""
    nested = "<sf:A>" * 500 + "x" + "</sf:A>" * 500
    body = fixture_bytes("salesforce/outbound_lead_hot.xml").replace(b"<sf:City>Denver</sf:City>", nested.encode())
    response = client.post("/webhooks/sf", data=body, headers={"Content-Type": "text/xml; charset=utf-8"})
    assert response.status_code == 200
    assert b"<Ack>true</Ack>" in response.data
    assert stored_events(app)[0]["status"] == "malformed"


def test_dynamics_date_out_of_range_is_kept_as_text(client, app):
    """Before: /Date(99999999999999999)/ → OverflowError → 500."""
    body = fixture_bytes("dynamics365/lead_create.json")
    data = json.loads(body)
    data["InputParameters"][0]["value"]["Attributes"].append({"key": "birthdate", "value": "/Date(99999999999999999)/"})
    response = client.post(
        "/webhooks/dyn",
        data=json.dumps(data),
        headers={"Content-Type": "application/json", "x-dyn-key": DYN_HEADER_SECRET},
    )
    assert response.status_code == 202, response.data
    assert response.get_json()["leads"][0]["status"] == "queued"


@pytest.mark.parametrize("bad", ["a\u0000b", "\ud800lone"])
def test_unsafe_extern_id_is_invalid_and_spares_its_batch_mate(client, app, bad):
    """Before (PostgreSQL): NUL or a lone surrogate in an externId → 500, both records of the batch lost."""
    body = json.dumps([{"id": bad, "phone": "3035550100"}, {"id": "fine-1", "phone": "3035550101"}])
    response = client.post("/webhooks/api", data=body, headers=GEN)
    assert response.status_code == 202, response.data
    entries = response.get_json()["leads"]
    assert [e["status"] for e in entries] == ["invalid", "queued"]
    assert "cannot be stored" in json.dumps(entries[0]["reasons"])
    assert count(app, leads, status="queued") == 1 and count(app, leads, status="invalid") == 1
    # The same request again is a duplicate per record: the unsafe key hashes alike.
    again = client.post("/webhooks/api", data=body, headers=GEN)
    assert again.status_code == 200 and again.get_json()["duplicate"] is True


def test_nul_in_hubspot_vid_is_acked_invalid(client, app):
    """A retrying sender gets 2xx with the record invalid (never 500, never silently changed)."""
    body = json.loads(fixture_bytes("hubspot/workflow_contact_all_properties.json"))
    body["vid"] = "123\u00004"
    body["properties"]["hs_object_id"]["value"] = "123\u00004"
    response = client.post(
        "/webhooks/crm",
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "X-Leadrelay-Token": "crm-token"},
    )
    assert response.status_code == 202, response.data
    assert response.get_json()["leads"][0]["status"] == "invalid"


def test_percent_encoded_nul_in_path_is_stored(client, app):
    """A decoded %00 in the path once reached a PostgreSQL text column."""
    response = client.post("/webhooks/api/x%00y", data=json.dumps({"id": "p1", "phone": "3035550100"}), headers=GEN)
    assert response.status_code == 202
    assert "%00" in stored_events(app)[0]["path"]


# ---------------------------------------------------------------- forged timestamps before auth


@pytest.mark.parametrize("stamp", ["9" * 400, "\u00b2", "12\u00b3"])
@pytest.mark.parametrize(
    "source,headers",
    [
        ("hs", {"X-HubSpot-Signature-v3": "x", "X-HubSpot-Request-Timestamp": None}),
        ("wf", {"x-webflow-signature": "x", "x-webflow-timestamp": None}),
        ("sw", {"webhook-id": "msg_1", "webhook-signature": "v1,x", "webhook-timestamp": None}),
    ],
)
def test_forged_timestamp_is_401(client, app, source, headers, stamp):
    """Before: 500 before authentication (int('²') / a 400-digit int overflowing a float).

    "²" is the byte 0xB2 on the wire, which gunicorn decodes as Latin-1: str.isdigit() says yes."""
    sent = {k: (stamp if v is None else v) for k, v in headers.items()}
    response = client.post(
        f"/webhooks/{source}", data=b'{"id": "1"}', headers={"Content-Type": "application/json", **sent}
    )
    assert response.status_code == 401
    assert count(app, events) == 0


# ---------------------------------------------------------------- record caps


def test_authenticated_huge_array_is_413_with_no_lead(client, app):
    """Before: 55,000 leads from one 930 KB request. Now 413 too_many_records, the request kept for audit."""
    body = json.dumps([{"id": str(i), "phone": "3035550100"} for i in range(1001)])
    started = time.monotonic()
    response = client.post("/webhooks/bulk", data=body, headers=GEN)
    assert time.monotonic() - started < 5
    assert response.status_code == 413
    assert response.get_json()["error"] == "too_many_records"
    assert count(app, leads) == 0
    (event,) = stored_events(app)
    assert event["reason"].startswith("too_many_records") and event["body"] == body.encode()


def test_salesforce_over_100_notifications_is_413(client, app):
    """Salesforce sends at most 100 notifications per message; 101 is not Salesforce (no Ack)."""
    body = fixture_bytes("salesforce/outbound_lead_hot.xml").decode()
    start, end = body.index("<Notification>"), body.index("</Notification>") + len("</Notification>")
    note = body[start:end]
    many = "".join(note.replace("04l5e00000AbCdEAAX", f"04l5e00000AbC{i:05d}") for i in range(101))
    response = client.post(
        "/webhooks/sf", data=body[:start] + many + body[end:], headers={"Content-Type": "text/xml; charset=utf-8"}
    )
    assert response.status_code == 413
    assert count(app, leads) == 0 and count(app, events) == 1


# ---------------------------------------------------------------- secrets at rest


def test_dynamics_header_secret_is_not_stored(client, app):
    """Before: the Dynamics header secret sat in events.headers (and /admin/api/events showed it)."""
    response = client.post(
        "/webhooks/dyn",
        data=fixture_bytes("dynamics365/lead_create.json"),
        headers={"Content-Type": "application/json", "x-dyn-key": DYN_HEADER_SECRET},
    )
    assert response.status_code == 202
    (event,) = stored_events(app)
    assert DYN_HEADER_SECRET not in event["headers"] and DYN_HEADER_SECRET not in event["path"]
    shown = client.get(f"/admin/api/events/{event['id']}", headers={"Authorization": "Bearer admin-token"})
    assert DYN_HEADER_SECRET not in shown.get_data(as_text=True)


def test_query_secret_with_any_name_is_not_stored(client, app):
    """Before: a query key named other than token/code/key was stored in events.path."""
    response = client.post(
        f"/webhooks/dynq?apikey2={DYN_QUERY_SECRET}&keep=1",
        data=fixture_bytes("dynamics365/lead_create.json"),
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 202
    (event,) = stored_events(app)
    assert DYN_QUERY_SECRET not in event["path"] and "keep=1" in event["path"]


def test_zoho_token_field_stays_in_the_stored_body_but_is_masked_when_shown(client, app):
    """The raw body stays byte-exact (replay re-verifies it); the admin API shows it masked."""
    body = fixture_bytes("zoho/workflow_form_data.txt")
    assert ZOHO_TOKEN.encode() in body
    response = client.post("/webhooks/zoho", data=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert response.status_code == 202
    (event,) = stored_events(app)
    assert event["body"] == body
    shown = client.get(f"/admin/api/events/{event['id']}", headers={"Authorization": "Bearer admin-token"})
    assert shown.status_code == 200
    assert ZOHO_TOKEN not in shown.get_data(as_text=True) and "***" in shown.get_json()["body"]


def test_database_errors_do_not_log_parameters(app, caplog):
    """Before (PostgreSQL): a database error logged SQLAlchemy's parameters (a header secret, an address)."""
    engine = app.extensions["leadrelay"].engine
    with caplog.at_level(logging.DEBUG), pytest.raises(Exception) as failure, engine.connect() as conn:
        conn.execute(text("SELECT * FROM no_such_table WHERE x = :secret"), {"secret": "top-secret-value"})
    assert "top-secret-value" not in str(failure.value)
    assert "top-secret-value" not in caplog.text


# ---------------------------------------------------------------- html_form, HEAD


def test_resubmitted_invalid_form_gets_the_same_422(client, app):
    """Before: 422, then 200 'Thank you' for the same invalid form (the visitor believed they would be called)."""
    form = {"first_name": "Ada", "email": "ada@example.com"}  # no phone: unmappable
    first = client.post("/webhooks/form", data=form)
    second = client.post("/webhooks/form", data=form)
    assert first.status_code == 422
    assert second.status_code == 422
    assert second.data == first.data or b"Thank" not in second.data


def test_head_with_a_body_is_not_processed(client, app):
    """Before: HEAD with a body was processed like a POST."""
    response = client.open(
        "/webhooks/api", method="HEAD", data=json.dumps({"id": "h1", "phone": "3035550100"}), headers=GEN
    )
    assert response.status_code == 405
    assert count(app, events) == 0 and count(app, leads) == 0


LIMITED = """
defaults:
  campaign: "Inbound Leads"
  suppress_within: 0
sources:
  form:
    type: html_form
    rate_limit: {per_ip: 2/10m, per_phone: 2/1h}
"""


@pytest.mark.parametrize("kind", ["ip", "phone"])
def test_form_limits_hold_across_processes(make_app, db_url, kind):
    """Before: each process kept its own window, so N processes allowed N × the limit."""
    from handlers import html_form

    first, second = make_app(LIMITED, db_url), make_app(LIMITED, db_url)  # two web processes, one database
    html_form.reset_limits()
    for n in range(2):
        phone = "3035550100" if kind == "phone" else f"30355501{n:02d}"
        address = f"10.0.0.{n}" if kind == "phone" else "10.0.0.9"
        answer = first.test_client().post(
            "/webhooks/form", data={"name": f"A {n}", "phone": phone}, environ_base={"REMOTE_ADDR": address}
        )
        assert answer.status_code == 200, answer.data
    html_form.reset_limits()  # the other process has seen none of them in memory
    phone = "3035550100" if kind == "phone" else "3035550177"
    address = "10.0.0.7" if kind == "phone" else "10.0.0.9"
    refused = second.test_client().post(
        "/webhooks/form", data={"name": "B", "phone": phone}, environ_base={"REMOTE_ADDR": address}
    )
    assert refused.status_code == 429
    assert count(second, events) == 2
