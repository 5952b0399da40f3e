"""Tests for handlers/webflow.py: x-webflow-signature over `timestamp:body`, v2 and legacy v1 bodies."""

import hashlib
import hmac
import json

import pytest

from handlers.base import AuthFailure, Malformed, SourceSettings
from handlers.webflow import Webflow
from tests.builders import DATA as TEST_DATA
from tests.builders import inbound as build_inbound

DATA = TEST_DATA / "webflow"
SECRET = "5f1d3b7e9a0c2e4f6a8b0d2f4e6a8c0e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a"
TS = "1768496645123"
NOW = 1768496645.123
WEBFLOW = Webflow()
BODY = (DATA / "form_submission.json").read_bytes()
META = json.loads((DATA / "form_submission.meta.json").read_text())
GOOD = META["headers"]["x-webflow-signature"]


def inbound(body=BODY, headers=None):
    """Build an Inbound as the intake would."""
    return build_inbound(
        body, url="https://leads.example.com/webhooks/webflow", headers=headers, content_type="application/json"
    )


def source(secret=(SECRET,)):
    """A Webflow source with one secret or several."""
    options = {} if secret is None else {"secret": list(secret)}
    return SourceSettings(name="webflow", type="webflow", options=options)


def sign(body, ts=TS, secret=SECRET):
    """Webflow's scheme, written out independently of the handler."""
    return hmac.new(secret.encode(), f"{ts}:".encode() + body, hashlib.sha256).hexdigest()


def headers(sig=GOOD, ts=TS):
    """The two signing headers (None leaves one out)."""
    out = {}
    if sig is not None:
        out["x-webflow-signature"] = sig
    if ts is not None:
        out["x-webflow-timestamp"] = ts
    return out


def test_fixture_signature_known_answer():
    """The fixture's signature is the independent computation, and verifies at the fixture's time."""
    assert sign(BODY) == META["signature"]["value"] == GOOD
    WEBFLOW.verify(source(), inbound(headers=META["headers"]), NOW)


@pytest.mark.parametrize(
    "body,hdrs,src,now,reason",
    [
        (BODY, headers(), source(["wrong"]), NOW, "invalid_signature"),
        (BODY.replace(b'"Ada"', b'"Eve"'), headers(), source(), NOW, "invalid_signature"),
        (BODY, headers(ts="1768496645124"), source(), NOW, "invalid_signature"),
        (BODY, headers(sig=None), source(), NOW, "missing_signature"),
        (BODY, headers(ts=None), source(), NOW, "missing_signature"),
        (BODY, headers(sig=""), source(), NOW, "missing_signature"),
        (BODY, headers(ts="abc"), source(), NOW, "invalid_signature"),
        (BODY, headers(), source(), NOW + 301, "stale_timestamp"),
        (BODY, headers(), source(), NOW - 301, "stale_timestamp"),
        (BODY, headers(sig=sign(BODY, "1768496945123"), ts="1768496945123"), source(), NOW, None),  # +300 s: edge
        (BODY, headers(sig=sign(BODY, "1768496345123"), ts="1768496345123"), source(), NOW, None),  # -300 s: edge
        (BODY, headers(sig=sign(BODY, "1768496946123"), ts="1768496946123"), source(), NOW, "stale_timestamp"),
        (BODY, headers(sig=sign(BODY, "1768496645"), ts="1768496645"), source(), NOW, "stale_timestamp"),  # seconds
        (
            BODY,
            headers(sig=hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()),
            source(),
            NOW,
            "invalid_signature",
        ),  # body only, no timestamp prefix
        (BODY, headers(sig="sha256=" + GOOD), source(), NOW, "invalid_signature"),
        (BODY, headers(), source(None), NOW, "invalid_signature"),
        (BODY, headers(), source(["old-secret", SECRET]), NOW, None),
        (BODY, headers(sig=GOOD.upper()), source(), NOW, None),
        (BODY, {"X-Webflow-Signature": GOOD, "X-Webflow-Timestamp": TS}, source(), NOW, None),
    ],
    ids=[
        "wrong-secret",
        "tampered-body",
        "tampered-timestamp",
        "missing-signature",
        "missing-timestamp",
        "empty-signature",
        "non-numeric-timestamp",
        "stale",
        "future",
        "edge-future-300s",
        "edge-past-300s",
        "future-301s",
        "seconds-not-ms",
        "body-only-hmac",
        "prefixed",
        "no-secret-configured",
        "rotated-second-matches",
        "upper-hex",
        "header-case",
    ],
)
def test_signature_failure_table(body, hdrs, src, now, reason):
    """Each way the signature or its clock can be wrong gives its reason."""
    if reason is None:
        WEBFLOW.verify(src, inbound(body, hdrs), now)
        return
    with pytest.raises(AuthFailure) as info:
        WEBFLOW.verify(src, inbound(body, hdrs), now)
    assert info.value.reason == reason


def test_parse_fixture():
    """Form data by the designer's names, submission ids, event and key from payload.id."""
    [record] = WEBFLOW.parse(source(), inbound())
    assert record.key == "6789a1b2c3d4e5f601234567" and record.event == "form_submission"
    f = record.fields
    assert f["First Name"] == "Ada" and f["Phone"] == "(303) 555-0142" and f["utm_campaign"] == "winter-promo"
    assert f["id"] == "6789a1b2c3d4e5f601234567" and f["formId"] == "65429eadebe8a9f3a30f62d0"
    assert f["formName"] == "Get a Quote" and f["siteId"] == "65427cf400e02b306eaa049c"
    assert f["submittedAt"] == "2026-01-15T17:04:05.117Z"
    assert record.get("payload.data.Budget") == "$10k+"
    assert record.get("payload.schema.0.fieldType") == "FormTextInput"


def test_parse_numeric_phone_and_id_collision():
    """Webflow's own example sends the phone as a JSON number; a form field named `id` cannot replace payload.id."""
    body = {
        "triggerType": "form_submission",
        "payload": {
            "name": "Contact",
            "siteId": "s1",
            "formId": "f1",
            "id": "sub-1",
            "submittedAt": "2026-01-15T17:04:05Z",
            "data": {"name": "Ada Example", "phone": 15550000000, "id": "spoofed", "Agree": True},
        },
    }
    [record] = WEBFLOW.parse(source(), inbound(json.dumps(body).encode()))
    assert record.key == "sub-1" and record.fields["id"] == "sub-1" and record.fields["phone"] == 15550000000
    assert record.get("payload.data.id") == "spoofed" and record.fields["Agree"] is True


def test_parse_legacy_v1_shape():
    """The v1 body (_id, site, d, name, data) reads into the same names."""
    body = {
        "name": "Contact Form",
        "site": "62749158efef318abc8d5a0f",
        "d": "2022-09-14T12:35:16.117Z",
        "_id": "6321d5a7f4a5d1b2c3d4e5f6",
        "data": {"Name": "Ada Example", "Phone": "303 555 0142"},
    }
    [record] = WEBFLOW.parse(source(), inbound(json.dumps(body).encode()))
    assert record.key == "6321d5a7f4a5d1b2c3d4e5f6" and record.event == "form_submission"
    assert record.fields["siteId"] == "62749158efef318abc8d5a0f" and record.fields["submittedAt"].startswith("2022")
    assert record.fields["Name"] == "Ada Example" and record.fields["formName"] == "Contact Form"


def test_parse_other_trigger_type_and_missing_id():
    """Another trigger keeps its name as the event; a body without an id has no key (intake hashes it)."""
    body = {"triggerType": "form_submission_v2", "payload": {"data": {"Email": "x@example.com"}}}
    [record] = WEBFLOW.parse(source(), inbound(json.dumps(body).encode()))
    assert record.event == "form_submission_v2" and record.key is None


def test_parse_unicode_values():
    """Non-ASCII field names and values come through as text."""
    body = {
        "triggerType": "form_submission",
        "payload": {"id": "u1", "data": {"Prénom": "Zoë", "電話": "+81 3-1234-5678"}},
    }
    [record] = WEBFLOW.parse(source(), inbound(json.dumps(body, ensure_ascii=False).encode()))
    assert record.fields["Prénom"] == "Zoë" and record.fields["電話"] == "+81 3-1234-5678"


@pytest.mark.parametrize(
    "body",
    [b"", b"nope", b"[]", b'{"triggerType":"form_submission"}', b'{"payload":{"id":"1","data":[1,2]}}', b"\xff"],
    ids=["empty", "not-json", "array", "no-payload", "data-not-object", "not-utf8"],
)
def test_parse_malformed(body):
    """Bodies that are not a Webflow submission are Malformed."""
    with pytest.raises(Malformed):
        WEBFLOW.parse(source(), inbound(body))


def test_type_flags():
    """Webflow retries on non-200, so the type answers 2xx; the secret is its own scheme."""
    assert WEBFLOW.retries is True
    assert WEBFLOW.has_own_auth(source()) and not WEBFLOW.has_own_auth(source(None))
