"""Tests for handlers/typeform.py: Typeform-Signature and answers keyed by field ref."""

import base64
import hashlib
import hmac
import json

import pytest

from handlers.auth import Secrets
from handlers.base import AuthFailure, Malformed, SourceSettings, type_of
from handlers.typeform import TypeformOptions
from tests.builders import DATA as TEST_DATA
from tests.builders import inbound as build_inbound

DATA = TEST_DATA / "typeform"
SECRET = "tf_test_secret_9f8e7d6c5b4a"
NOW = 1768496645.123
TYPEFORM = type_of("typeform")


def inbound(body, headers=None):
    """Build an Inbound as the intake would."""
    return build_inbound(
        body, url="https://leads.example.com/webhooks/typeform", headers=headers, content_type="application/json"
    )


def fixture(name):
    """The fixture's body and its signed headers."""
    meta = json.loads((DATA / f"{name}.meta.json").read_text())
    return (DATA / f"{name}.json").read_bytes(), meta


def source(secret=SECRET):
    """A Typeform source with one secret or several."""
    return SourceSettings(
        name="demo-form", type="typeform", options={} if secret is None else {"secret": Secrets().deserialize(secret)}
    )


def sign(body, secret=SECRET):
    """Typeform's scheme, written out independently of the handler."""
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


@pytest.mark.parametrize("name", ["form_response_hot", "form_response_no_phone"])
def test_fixture_signatures(name):
    """The fixtures' signatures verify, and match the independent computation."""
    body, meta = fixture(name)
    assert sign(body) == meta["signature"]["value"]
    TYPEFORM.verify(source(), inbound(body, meta["headers"]), NOW)


BODY, META = fixture("form_response_hot")
GOOD = META["headers"]["Typeform-Signature"]


@pytest.mark.parametrize(
    "body,headers,src,reason",
    [
        (BODY, {"Typeform-Signature": GOOD}, source("wrong"), "invalid_signature"),
        (BODY.replace(b'"Ada"', b'"Eve"'), {"Typeform-Signature": GOOD}, source(), "invalid_signature"),
        (BODY, {}, source(), "missing_signature"),
        (BODY, {"Typeform-Signature": ""}, source(), "missing_signature"),
        (BODY, {"Typeform-Signature": GOOD.replace("sha256=", "sha1=")}, source(), "invalid_signature"),
        (BODY, {"Typeform-Signature": GOOD[len("sha256=") :]}, source(), "invalid_signature"),
        (
            BODY,
            {"Typeform-Signature": "sha256=" + hmac.new(SECRET.encode(), BODY, hashlib.sha256).hexdigest()},
            source(),
            "invalid_signature",
        ),
        (BODY, {"Typeform-Signature": GOOD}, source(["old", SECRET]), None),
        (BODY, {"typeform-signature": GOOD}, source(), None),
        (BODY, {"Typeform-Signature": GOOD}, source(None), "invalid_signature"),
    ],
    ids=[
        "wrong-secret",
        "tampered-body",
        "missing-header",
        "empty-header",
        "wrong-prefix",
        "no-prefix",
        "hex-not-base64",
        "rotated-second-matches",
        "header-case",
        "no-secret-configured",
    ],
)
def test_failure_table(body, headers, src, reason):
    """Each way the signature can be wrong gives its reason."""
    if reason is None:
        TYPEFORM.verify(src, inbound(body, headers), NOW)
        return
    with pytest.raises(AuthFailure) as info:
        TYPEFORM.verify(src, inbound(body, headers), NOW)
    assert info.value.reason == reason


def test_parse_hot_fixture():
    """Answers by ref, choice label, number, hidden nested and by dotted path, ids, score."""
    [record] = TYPEFORM.parse(source(), inbound(BODY))
    assert record.key == "01KF2Q3M8W7R5T2K9V4N6B0C1D" and record.event == "form_response"
    f = record.fields
    assert (f["first_name"], f["last_name"], f["email"], f["phone"], f["zip"]) == (
        "Ada",
        "Example",
        "ada.example@example.com",
        "+13035550142",
        "80202",
    )
    assert f["timeline"] == "This week" and f["budget"] == 2500 and f["score"] == 87
    assert f["token"] == "a1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6" and f["form_id"] == "lT4Z3j"
    assert f["event_id"] == record.key and f["submitted_at"] == "2026-01-15T17:04:05Z"
    assert f["hidden"] == {"utm_source": "google", "utm_campaign": "winter-promo", "crm_id": None}
    assert record.get("hidden.utm_source") == "google" and record.get("hidden.crm_id") is None


def test_parse_skipped_question_is_absent():
    """A skipped question has no answer object, so no field."""
    body, _ = fixture("form_response_no_phone")
    [record] = TYPEFORM.parse(source(), inbound(body))
    assert "phone" not in record.fields and record.fields["zip"] == "02139-4307"
    assert record.fields["hidden"]["utm_campaign"] is None


def test_parse_answer_types():
    """choices → labels (+ other), boolean, date, url, file_url, other choice, blank text."""
    answers = [
        {"type": "choices", "choices": {"labels": ["A", "B"], "other": "C"}, "field": {"ref": "many"}},
        {"type": "choice", "choice": {"other": "Something"}, "field": {"ref": "other"}},
        {"type": "boolean", "boolean": False, "field": {"ref": "ok"}},
        {"type": "date", "date": "2026-02-01", "field": {"ref": "when"}},
        {"type": "url", "url": "https://x.example", "field": {"ref": "site"}},
        {"type": "file_url", "file_url": "https://f.example/a.pdf", "field": {"ref": "cv"}},
        {"type": "text", "text": "", "field": {"ref": "blank"}},
        {"type": "payment", "payment": {"amount": "10"}, "field": {"id": "noRef"}},
        "not-an-answer",
    ]
    body = json.dumps(
        {"event_id": 7, "event_type": "form_response", "form_response": {"token": "t", "answers": answers}}
    ).encode()
    [record] = TYPEFORM.parse(source(), inbound(body))
    f = record.fields
    assert f["many"] == ["A", "B", "C"] and f["other"] == "Something" and f["ok"] is False
    assert (f["when"], f["site"], f["cv"]) == ("2026-02-01", "https://x.example", "https://f.example/a.pdf")
    assert f["blank"] is None and f["noRef"] == {"amount": "10"}
    assert record.key == "7" and f["hidden"] == {} and f["score"] is None


def test_ids_win_over_colliding_refs():
    """A question whose ref is `token` cannot replace the response id."""
    body = json.dumps(
        {
            "event_id": "e",
            "form_response": {
                "token": "real",
                "answers": [{"type": "text", "text": "typed", "field": {"ref": "token"}}],
            },
        }
    ).encode()
    assert TYPEFORM.parse(source(), inbound(body))[0].fields["token"] == "real"


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"event_id": "x"}', b'{"form_response": {"answers": {}}}'])
def test_parse_malformed(body):
    """Unreadable or non-form_response bodies are Malformed."""
    with pytest.raises(Malformed):
        TYPEFORM.parse(source(), inbound(body))


@pytest.mark.parametrize(
    "options,ok",
    [
        ({"secret": "s"}, True),
        ({"secret": ["s", "t"]}, True),
        ({"secret": ""}, False),
        ({"secret": 1}, False),
    ],
)
def test_options_schema(options, ok):
    """secret: a string or a list of strings."""
    assert (not TypeformOptions().validate(options)) is ok
