"""The fuzz harness: one configured source per sender type, seed bodies, and a signer per auth scheme.

A signer turns (body, query) into what a genuine sender would add (headers, query), so a mutated body
can be sent authenticated; `None` means this body cannot be signed by that scheme (e.g. not UTF-8 for
Standard Webhooks) and the request counts as unauthenticated."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from standardwebhooks import Webhook

from handlers.hubspot import v3_signature
from handlers.webflow import signed_message
from tests.builders import fixture_bytes

SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ORG = "00D5e000000AbCdEAK"
TOKEN = "fuzz-token-0123456789"
CONFIG = f"""
defaults:
  campaign: "Inbound Leads"
  suppress_within: 0
sources:
  hubspot: {{type: hubspot, client_secret: hs-fuzz-secret-0123}}
  salesforce: {{type: salesforce, organization_id: {ORG}}}
  typeform: {{type: typeform, secret: tf-fuzz-secret-0123}}
  webflow: {{type: webflow, secret: wf-fuzz-secret-0123}}
  facebook: {{type: facebook, app_secret: fb-fuzz-secret-0123, verify_token: fb-verify-0123, page_access_token: fb-page-0123}}
  google_forms: {{type: google_forms, secret: gf-fuzz-secret-0123}}
  pipedrive: {{type: pipedrive, basic_auth: {{username: hook, password: pd-fuzz-pass-0123}}}}
  dynamics: {{type: dynamics, webhook_key: dyn-fuzz-key-0123}}
  generic_hmac:
    type: generic
    hmac: {{header: X-Sig, secret: gen-fuzz-secret-0123}}
    fields: {{externId: id, leadPhone: phone}}
  generic_sw:
    type: generic
    standard_webhooks: {{secret: "{SW_SECRET}"}}
    fields: {{externId: id, leadPhone: phone}}
  generic: {{type: generic, token: {TOKEN}, fields: {{externId: id, leadPhone: phone}}}}
  gravityforms: {{type: gravityforms, token: {TOKEN}}}
  jotform: {{type: jotform, token: {TOKEN}}}
  unbounce: {{type: unbounce, token: {TOKEN}}}
  zoho: {{type: zoho, token: {TOKEN}, token_field: token}}
  html_form: {{type: html_form, token: {TOKEN}, rate_limit: false}}
"""

# The scheme+host HubSpot v3 signs: the Flask test client's, or a live server's (set by the socket fuzz).
BASE_URL = ["http://localhost"]

Signer = Callable[[bytes, str], "tuple[dict[str, str], str] | None"]


def _hex(secret: str, message: bytes, digest=hashlib.sha256) -> str:
    """Hex HMAC."""
    return hmac.new(secret.encode(), message, digest).hexdigest()


def _hubspot(body: bytes, query: str):
    """HubSpot v3: HMAC over method + URL + body + timestamp (ms)."""
    stamp = str(int(time.time() * 1000))
    url = BASE_URL[0] + "/webhooks/hubspot" + (f"?{query}" if query else "")
    return {
        "X-HubSpot-Signature-v3": v3_signature("hs-fuzz-secret-0123", "POST", url, body, stamp),
        "X-HubSpot-Request-Timestamp": stamp,
    }, query


def _typeform(body: bytes, query: str):
    """Typeform: sha256= base64 HMAC of the body."""
    digest = base64.b64encode(hmac.new(b"tf-fuzz-secret-0123", body, hashlib.sha256).digest()).decode()
    return {"Typeform-Signature": "sha256=" + digest}, query


def _webflow(body: bytes, query: str):
    """Webflow: hex HMAC of `timestamp:body`."""
    stamp = str(int(time.time() * 1000))
    return {
        "x-webflow-timestamp": stamp,
        "x-webflow-signature": _hex("wf-fuzz-secret-0123", signed_message(stamp, body)),
    }, query


def _standard(body: bytes, query: str):
    """Standard Webhooks (only a UTF-8 body can be signed: the library signs text)."""
    try:
        data = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    now = datetime.now(tz=UTC)
    signature = Webhook(SW_SECRET).sign("msg_fuzz", now, data)
    return {
        "webhook-id": "msg_fuzz",
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }, query


def _with_query_token(body: bytes, query: str):
    """The shared `token:` in the query string (every type accepts it)."""
    return {}, (query + "&" if query else "") + f"token={TOKEN}"


def _with_header_token(body: bytes, query: str):
    """The shared `token:` in its header."""
    return {"X-Leadrelay-Token": TOKEN}, query


SIGNERS: dict[str, Signer] = {
    "hubspot": _hubspot,
    "typeform": _typeform,
    "webflow": _webflow,
    "facebook": lambda b, q: ({"X-Hub-Signature-256": "sha256=" + _hex("fb-fuzz-secret-0123", b)}, q),
    "google_forms": lambda b, q: ({"X-Form-Signature": "sha256=" + _hex("gf-fuzz-secret-0123", b)}, q),
    "pipedrive": lambda b, q: ({"Authorization": "Basic " + base64.b64encode(b"hook:pd-fuzz-pass-0123").decode()}, q),
    "dynamics": lambda b, q: ({}, (q + "&" if q else "") + "code=dyn-fuzz-key-0123"),
    "generic_hmac": lambda b, q: ({"X-Sig": _hex("gen-fuzz-secret-0123", b)}, q),
    "generic_sw": _standard,
    "generic": _with_header_token,
    "gravityforms": _with_header_token,
    "jotform": _with_query_token,
    "unbounce": _with_query_token,
    "zoho": _with_header_token,
    "html_form": _with_header_token,
    # Salesforce authenticates by the organization id inside the body: a mutation may remove it.
    "salesforce": lambda b, q: ({}, q),
}


@dataclass(frozen=True)
class Seed:
    """A genuine body of a sender and its content type."""

    body: bytes
    content_type: str


def _generic_seed() -> bytes:
    """A small generic JSON batch."""
    return json.dumps(
        [{"id": "g-1", "phone": "3035550100", "name": "Ada"}, {"id": "g-2", "phone": "+44 20 7946 0958"}]
    ).encode()


SEEDS: dict[str, list[Seed]] = {
    "hubspot": [
        Seed(fixture_bytes("hubspot/workflow_contact_all_properties.json"), "application/json"),
        Seed(fixture_bytes("hubspot/webhooks_api_batch.json"), "application/json"),
    ],
    "salesforce": [Seed(fixture_bytes("salesforce/outbound_lead_hot.xml"), "text/xml; charset=utf-8")],
    "typeform": [Seed(fixture_bytes("typeform/form_response_hot.json"), "application/json")],
    "webflow": [Seed(fixture_bytes("webflow/form_submission.json"), "application/json")],
    "facebook": [Seed(fixture_bytes("facebook_leadads/leadgen_single.json"), "application/json")],
    "google_forms": [Seed(fixture_bytes("google_forms/apps_script_json.json"), "application/json")],
    "pipedrive": [
        Seed(fixture_bytes("pipedrive/v1_added_person.json"), "application/json"),
        Seed(fixture_bytes("pipedrive/v2_create_person.json"), "application/json"),
    ],
    "dynamics": [Seed(fixture_bytes("dynamics365/lead_create.json"), "application/json")],
    "generic_hmac": [Seed(_generic_seed(), "application/json")],
    "generic_sw": [Seed(_generic_seed(), "application/json")],
    "generic": [
        Seed(_generic_seed(), "application/json"),
        Seed(b"id=f-1&phone=3035550100&name=Ada", "application/x-www-form-urlencoded"),
    ],
    "gravityforms": [Seed(fixture_bytes("gravityforms/all_fields_json.json"), "application/json")],
    "jotform": [
        Seed(
            fixture_bytes("jotform/submission_multipart.txt"),
            "multipart/form-data; boundary=------------------------4f1d8a2c6b9e0f37",
        )
    ],
    "unbounce": [Seed(fixture_bytes("unbounce/form_submit.txt"), "application/x-www-form-urlencoded")],
    "zoho": [Seed(fixture_bytes("zoho/workflow_form_data.txt"), "application/x-www-form-urlencoded")],
    "html_form": [Seed(fixture_bytes("html_form/contact_form.txt"), "application/x-www-form-urlencoded")],
}
