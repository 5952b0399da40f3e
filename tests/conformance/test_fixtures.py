"""Conformance: every sender fixture through the real HTTP endpoint, checked at the fake Engage.

The service runs on a real loopback socket (werkzeug server thread, the app as gunicorn would
serve it), the inline dispatcher loads leads into the fake Engage over HTTP, id-only senders
are completed from fake HubSpot / Graph APIs. Each fixture's `expected` (externId, phones,
names, email, zip) is compared with the lead Engage received. A failure table per
authentication scheme shows each is rejected with 401 and nothing stored."""

from __future__ import annotations

import base64
import json
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from sqlalchemy import func, select
from werkzeug.serving import make_server

from app import create_app, start_dispatcher, stop_dispatcher
from harness import fake_engage
from harness.fake_graph import FakeGraph
from harness.fake_hubspot import FakeHubSpot
from harness.processes import wait_for
from store.schema import events
from tests.builders import DATA

# The service on a real socket with the fakes it calls.
pytestmark = pytest.mark.process

FIXTURE_NOW = 1768496645.123 + 5  # the signed fixtures' timestamp, plus a few seconds
TOKEN = "conformance-token-4f1c"  # for senders that can only authenticate with a URL secret


def meta(name: str) -> dict:
    """A fixture's .meta.json."""
    return json.loads((DATA / f"{name}.meta.json").read_text())


def body(name: str) -> bytes:
    """A fixture's body, byte-exact."""
    matches = [p for p in DATA.glob(f"{name}.*") if not p.name.endswith(".meta.json")]
    return matches[0].read_bytes()


def config(hubspot_api: str, graph_api: str) -> str:
    """One source per sender, with the fixtures' secrets; paths match the fixtures' URLs."""
    hs = meta("hubspot/workflow_contact_all_properties")["signature"]["secret"]
    pd = meta("pipedrive/v1_added_person")["auth"]
    return f"""
defaults:
  campaign: "Inbound Leads"
  suppress_within: 0
dispatch:
  lease_seconds: 2
  poll_interval: 0.2
  normal_batch_delay: 0.1
sources:
  hubspot:
    type: hubspot
    client_secret: "{hs}"
    access_token: pat-test-token
    api_base_url: {hubspot_api}
    priority: IMMEDIATE
  salesforce:
    type: salesforce
    organization_id: "{meta("salesforce/outbound_lead_hot")["auth"]["expected_org_id"]}"
  pipedrive:
    type: pipedrive
    basic_auth: {{username: "{pd["user"]}", password: "{pd["password"]}"}}
  zoho:
    type: zoho
    token: "{meta("zoho/workflow_form_data")["auth"]["shared_token"]}"
    token_field: token
  dynamics:
    type: dynamics
    webhook_key: "{meta("dynamics365/lead_create")["auth"]["webhook_key"]}"
  typeform:
    type: typeform
    secret: "{meta("typeform/form_response_hot")["signature"]["secret"]}"
  meta:
    type: facebook
    app_secret: "{meta("facebook_leadads/leadgen_single")["signature"]["secret"]}"
    verify_token: "{meta("facebook_leadads/verify_handshake_query")["auth"]["verify_token"]}"
    page_access_token: page-token
    api_base_url: {graph_api}
  webflow:
    type: webflow
    secret: "{meta("webflow/form_submission")["signature"]["secret"]}"
  unbounce:
    type: unbounce
    token: {TOKEN}
  gravityforms:
    type: gravityforms
    token: "{meta("gravityforms/all_fields_json")["auth"]["token"]}"
  jotform:
    type: jotform
    token: {TOKEN}
  google-forms:
    type: google_forms
    secret: "{meta("google_forms/apps_script_json")["signature"]["secret"]}"
  form:
    type: html_form
"""


class Service:
    """The app on a real socket with the dispatcher inline, plus the fakes it talks to."""

    def __init__(self, tmp: Path):
        """Start fake Engage, fake HubSpot and Graph APIs, then the app."""
        self.engage = fake_engage.HarnessEngage(campaigns=["Inbound Leads"])
        self.engage_server = fake_engage.serve(self.engage)
        self.hubspot = FakeHubSpot().start()
        workflow = json.loads(body("hubspot/workflow_contact_all_properties"))
        props = {k: v["value"] for k, v in workflow["properties"].items()}
        self.hubspot.add_contact("51234567", **props)
        self.hubspot.add_contact(
            "51234890",
            firstname="Grace",
            lastname="Hopper",
            phone="+1 (415) 555-0188",
            email="grace@example.com",
            zip="94105",
        )
        self.graph = FakeGraph()
        self.graph.add_lead(json.loads(body("facebook_leadads/lead_graph_response_1234567890123456")))
        self.graph_server = self.graph.serve().start()
        (tmp / "leadrelay.yml").write_text(config(self.hubspot.url, self.graph_server.url))
        url = self.engage_server.url
        self.app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp / 'conformance.db'}",
                "LEADRELAY_CONFIG": str(tmp / "leadrelay.yml"),
                "ENGAGE_BASE_URL": url,
                "RINGCENTRAL_SERVER_URL": url,
                "ENGAGE_ACCOUNT_ID": fake_engage.DEFAULT_ACCOUNT_ID,
                "RINGCENTRAL_CLIENT_ID": fake_engage.DEFAULT_CLIENT_ID,
                "RINGCENTRAL_CLIENT_SECRET": fake_engage.DEFAULT_CLIENT_SECRET,
                "RINGCENTRAL_JWT": fake_engage.DEFAULT_JWT,
                "PUBLIC_URL": "https://leads.example.com",
                "CALLING_WINDOWS": "off",  # live mode at any hour: the windows have their own tests
            }
        )
        self.runtime = self.app.extensions["leadrelay"]
        self.runtime.intake.clock = lambda: FIXTURE_NOW
        self.http = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.base = f"http://127.0.0.1:{self.http.server_port}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()
        start_dispatcher(self.app)

    def send(self, name: str, mutate=None, url_suffix: str = "") -> requests.Response:
        """Replay a fixture to the path and query it was captured at."""
        m = meta(name)
        parts = urlsplit(m["url"])
        path = parts.path + (f"?{parts.query}" if parts.query else "") + url_suffix
        headers, raw = dict(m.get("headers") or {}), body(name)
        if mutate:
            headers, raw = mutate(headers, raw)
        return requests.request(
            m.get("method", "POST"), self.base + path, data=raw, headers=headers, timeout=10, allow_redirects=False
        )

    def loaded(self, extern_id: str) -> list[dict]:
        """Leads the fake Engage received with this externId."""
        return [sent["lead"] for sent in self.engage.leads() if sent["extern_id"] == extern_id]

    def events_stored(self) -> int:
        """Rows in the events table."""
        with self.runtime.engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(events)).scalar()

    def close(self):
        """Stop everything."""
        stop_dispatcher(self.app)
        self.http.shutdown()
        self.engage_server.stop()
        self.hubspot.stop()
        self.graph_server.stop()
        self.runtime.engine.dispose()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    """One service for the whole module (fixtures carry distinct ids)."""
    svc = Service(tmp_path_factory.mktemp("conformance"))
    yield svc
    svc.close()


def check_lead(lead: dict, expected: dict) -> None:
    """Compare an Engage lead with a fixture's `expected` block."""
    if expected.get("phones") is not None:
        assert lead["leadPhone"].split("|") == expected["phones"]
    for key in ("firstName", "lastName", "email", "zip"):
        if expected.get(key) is not None:
            assert lead.get(key) == expected[key], key


def wait_loaded(service: Service, extern_id: str) -> dict:
    """Wait until Engage has the lead, then return it."""
    wait_for(lambda: service.loaded(extern_id), 15, message=f"lead {extern_id} at the fake Engage")
    return service.loaded(extern_id)[0]


# (fixture, suffix added to the URL, expected HTTP status)
SINGLE_RECORD = [
    ("hubspot/workflow_contact_all_properties", "", 202),
    ("salesforce/outbound_lead_hot", "", 200),
    ("pipedrive/v1_added_person", "", 202),
    ("pipedrive/v2_create_person", "", 202),
    ("zoho/workflow_form_data", "", 202),
    ("dynamics365/lead_create", "", 202),
    ("typeform/form_response_hot", "", 202),
    ("webflow/form_submission", "", 202),
    ("gravityforms/all_fields_json", "", 202),
    ("google_forms/apps_script_json", "", 202),
    ("jotform/submission_multipart", f"?token={TOKEN}", 202),
    ("unbounce/form_submit", f"?token={TOKEN}", 202),
]


@pytest.mark.parametrize("name, suffix, status", SINGLE_RECORD, ids=[c[0] for c in SINGLE_RECORD])
def test_fixture_reaches_engage_as_expected(service, name, suffix, status):
    """The fixture is accepted with the sender's expected answer and its lead reaches Engage intact."""
    response = service.send(name, url_suffix=suffix)
    assert response.status_code == status, response.text
    expected = meta(name)["expected"]
    if name.startswith("salesforce/"):
        assert response.text == (DATA / "salesforce/ack_response.xml").read_text()
        assert response.headers["Content-Type"].startswith("text/xml")
    extern = expected.get("externId")
    if extern is None:  # senders without ids: the service made one up; find it in the answer
        extern = response.json()["leads"][0]["externId"]
    check_lead(wait_loaded(service, str(extern)), expected)


def test_html_form_answers_a_browser(service):
    """A plain form post: 303 or a thank-you page; the lead reaches Engage with a server-made externId."""
    response = service.send("html_form/contact_form")
    assert response.status_code in (200, 303)
    expected = meta("html_form/contact_form")["expected"]
    wait_for(
        lambda: [
            sent
            for sent in service.engage.leads()
            if sent["lead"].get("email") == expected["email"] and sent["extern_id"].startswith("web-")
        ],
        15,
        message="html form lead",
    )
    lead = next(sent["lead"] for sent in service.engage.leads() if sent["extern_id"].startswith("web-"))
    check_lead(lead, expected)


def test_hubspot_webhooks_api_batch_is_fetched(service):
    """Three id-only events: answered at once, contacts fetched from HubSpot's API, one lead per contact."""
    started = time.time()
    response = service.send("hubspot/webhooks_api_batch")
    assert response.status_code == 202 and time.time() - started < 1.0
    assert [e["status"] for e in response.json()["leads"]] == ["fetching"] * 3
    for event in meta("hubspot/webhooks_api_batch")["expected"]["events"]:
        lead = wait_loaded(service, event["externId"])
        if event.get("phones"):
            assert lead["leadPhone"].split("|")[0] == event["phones"][0]


def test_meta_lead_is_fetched_from_graph(service):
    """Meta sends ids only; the lead is fetched with the page token and mapped from field_data."""
    response = service.send("facebook_leadads/leadgen_single")
    assert response.status_code == 202
    expected = meta("facebook_leadads/lead_graph_response_1234567890123456")["expected"]
    check_lead(wait_loaded(service, expected["externId"]), expected)


def test_meta_handshake(service):
    """GET with hub.verify_token echoes hub.challenge."""
    response = service.send("facebook_leadads/verify_handshake_query")
    assert response.status_code == 200 and response.text == "1158201444"


def test_record_without_phone_is_stored_invalid_and_acknowledged(service):
    """Typeform without a phone: 2xx with `invalid` (Typeform must not retry), nothing reaches Engage."""
    response = service.send("typeform/form_response_no_phone")
    assert response.status_code == 202 and response.json()["leads"][0]["status"] == "invalid"
    time.sleep(0.3)
    assert not service.loaded(meta("typeform/form_response_no_phone")["expected"]["externId"])


def test_redelivery_is_a_duplicate(service):
    """Every sender's retry of the same event is answered as a duplicate and loads nothing twice."""
    first = service.send("typeform/form_response_hot")
    assert first.status_code == 200 and first.json()["duplicate"] is True
    assert len(service.loaded(meta("typeform/form_response_hot")["expected"]["externId"])) == 1


def _header(name, value):
    """Mutation: set a header."""
    return lambda h, b: ({**h, name: value}, b)


def _drop(name):
    """Mutation: remove a header."""
    return lambda h, b: ({k: v for k, v in h.items() if k.lower() != name.lower()}, b)


def _tamper(h, b):
    """Mutation: change one byte of the body (signatures must fail)."""
    return h, b.replace(b"Ada", b"Eve", 1) if b"Ada" in b else b[:-2] + b" " + b[-1:]


def _basic(user, password):
    """Mutation: different Basic credentials."""
    return _header("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode())


FAILURES = [
    ("hubspot/workflow_contact_all_properties", _tamper, "invalid_signature"),
    (
        "hubspot/workflow_contact_all_properties",
        _header("X-HubSpot-Signature-v3", base64.b64encode(b"x" * 32).decode()),
        "invalid_signature",
    ),
    (
        "hubspot/workflow_contact_all_properties",
        lambda h, b: (_drop("X-HubSpot-Signature-v3")(_drop("X-HubSpot-Signature")(h, b)[0], b)[0], b),
        "missing_signature",
    ),
    ("hubspot/webhooks_api_batch", _tamper, "invalid_signature"),
    ("typeform/form_response_hot", _tamper, "invalid_signature"),
    (
        "typeform/form_response_hot",
        _header("Typeform-Signature", "sha256=" + base64.b64encode(b"y" * 32).decode()),
        "invalid_signature",
    ),
    ("typeform/form_response_hot", _drop("Typeform-Signature"), "missing_signature"),
    ("webflow/form_submission", _tamper, "invalid_signature"),
    ("webflow/form_submission", _drop("x-webflow-signature"), "missing_signature"),
    ("facebook_leadads/leadgen_single", _tamper, "invalid_signature"),
    ("facebook_leadads/leadgen_single", _drop("X-Hub-Signature-256"), "missing_signature"),
    ("google_forms/apps_script_json", _tamper, "invalid_signature"),
    ("google_forms/apps_script_json", _drop("X-Form-Signature"), "missing_signature"),
    ("salesforce/outbound_lead_hot", lambda h, b: (h, b.replace(b"00D5e000000AbCd", b"00D5e000000ZzZz")), None),
    ("pipedrive/v1_added_person", _basic("pipedrive-hook", "wrong"), None),
    ("pipedrive/v1_added_person", _drop("Authorization"), None),
    ("dynamics365/lead_create", None, None),  # the ?code= key removed below
    ("gravityforms/all_fields_json", _header("Authorization", "Bearer wrong"), None),
    ("zoho/workflow_form_data", lambda h, b: (h, b.replace(b"zt_7f3a", b"zt_0000")), None),
]


@pytest.mark.parametrize("name, mutate, reason", FAILURES, ids=[f"{c[0]}-{i}" for i, c in enumerate(FAILURES)])
def test_authentication_failures_store_nothing(service, name, mutate, reason):
    """Wrong secret, tampered body, missing header, wrong org id / credentials: 401, nothing stored."""
    before = service.events_stored()
    if name == "dynamics365/lead_create":
        m = meta(name)
        path = urlsplit(m["url"]).path + "?code=wrong-key"
        response = requests.post(service.base + path, data=body(name), headers=m["headers"], timeout=10)
    else:
        response = service.send(name, mutate)
    assert response.status_code == 401, response.text
    if reason:
        assert response.json()["error"] == reason
    assert service.events_stored() == before


@pytest.mark.parametrize("name", ["hubspot/workflow_contact_all_properties", "webflow/form_submission"])
@pytest.mark.parametrize("skew", [-301, 301])
def test_stale_and_future_timestamps(service, name, skew):
    """Timestamped schemes accept |now − ts| ≤ 5 minutes only."""
    before = service.events_stored()
    service.runtime.intake.clock = lambda: FIXTURE_NOW - 5 + skew
    try:
        response = service.send(name)
    finally:
        service.runtime.intake.clock = lambda: FIXTURE_NOW
    assert response.status_code == 401 and response.json()["error"] == "stale_timestamp"
    assert service.events_stored() == before
