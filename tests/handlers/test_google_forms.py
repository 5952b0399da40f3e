"""Tests for handlers/google_forms.py and the Apps Script shipped in docs/sources/google_forms.md."""

import hashlib
import hmac
import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlencode

import pytest

from handlers.base import AuthFailure, Malformed, SourceSettings, type_of
from tests.builders import DATA as TEST_DATA
from tests.builders import inbound as build_inbound
from tests.builders import source as build_source

ROOT = Path(__file__).resolve().parents[2]
DATA = TEST_DATA / "google_forms"
DOC = ROOT / "docs" / "sources" / "google_forms.md"
BODY = (DATA / "apps_script_json.json").read_bytes()
META = json.loads((DATA / "apps_script_json.meta.json").read_text())
SECRET = META["signature"]["secret"]
GOOD = META["headers"]["X-Form-Signature"]
NOW = 1768496645.123
GOOGLE = type_of("google_forms")


def inbound(body=BODY, headers=None, content_type="application/json"):
    """Build an Inbound as the intake would."""
    return build_inbound(
        body,
        url="https://leads.example.com/webhooks/google-forms",
        headers=headers if headers is not None else {"X-Form-Signature": GOOD},
        content_type=content_type,
    )


def source(secret=SECRET, **common):
    """A google_forms source whose options went through the config schema."""
    return build_source("google_forms", name="google-forms", options={"secret": secret}, **common)


def reason_of(src, request):
    """Run verify; the failure reason, or None when it passes."""
    try:
        GOOGLE.verify(src, request, NOW)
    except AuthFailure as failure:
        return failure.reason
    return None


# --- the signature, as the Apps Script computes it ----------------------------------------


def apps_script_signed_bytes(body: bytes, secret: str) -> list[int]:
    """Utilities.computeHmacSha256Signature: the HMAC as Java signed bytes (-128..127)."""
    return [b - 256 if b > 127 else b for b in hmac.new(secret.encode(), body, hashlib.sha256).digest()]


def apps_script_hex(signed: list[int]) -> str:
    """The script's leadrelayHex_: mask each byte with 0xff, two lower-case hex digits."""
    return "".join(("0" + format(b & 0xFF, "x"))[-2:] for b in signed)


def apps_script_body(payload: dict) -> bytes:
    """The script's leadrelayBody_: JSON.stringify(payload, null, 2) with non-ASCII as \\uXXXX."""
    return json.dumps(payload, indent=2, ensure_ascii=True).encode("ascii")


def test_script_signing_reproduced_matches_fixture():
    """Signed bytes masked with 0xff and hex-encoded give the fixture's signature."""
    signed = apps_script_signed_bytes(BODY, SECRET)
    assert any(b < 0 for b in signed)  # the masking matters for this fixture
    assert "sha256=" + apps_script_hex(signed) == GOOD == META["signature"]["value"]
    # Without the mask, negative bytes would render as "-xx": that is the classic bug.
    assert "sha256=" + "".join(("0" + format(b, "x"))[-2:] for b in signed) != GOOD


def test_script_body_reproduced_is_the_fixture():
    """The fixture is exactly what the script's serialization produces for that response."""
    assert apps_script_body(json.loads(BODY)) == BODY


def test_fixture_verifies_and_parses():
    """Known answer: the fixture verifies; answers by title plus the ids; key = responseId."""
    GOOGLE.verify(source(), inbound(), NOW)
    [record] = GOOGLE.parse(source(), inbound())
    assert record.key == "2_ABaOnudEXAMPLEresponseID0123456789"
    assert record.get("Phone") == "303-555-0142" and record.get("Services") == ["Install", "Maintenance"]
    assert record.get("How soon do you want a call?") == "Today"
    assert record.get("respondentEmail") == "ada.example@example.com"
    assert record.get("formId") == "1FAIpQLSdEXAMPLEformID0123456789abcdefghijkl"
    assert record.get("timestamp") == "2026-01-15T17:04:05.000Z"


@pytest.mark.parametrize(
    "body,headers,src,reason",
    [
        (BODY, None, source("wrong-secret"), "invalid_signature"),
        (BODY.replace(b'"Ada"', b'"Eve"'), None, source(), "invalid_signature"),
        (BODY + b" ", None, source(), "invalid_signature"),
        (BODY, {}, source(), "missing_signature"),
        (BODY, {"X-Form-Signature": ""}, source(), "missing_signature"),
        (BODY, {"X-Form-Signature": GOOD[len("sha256=") :]}, source(), "invalid_signature"),
        (BODY, {"X-Form-Signature": GOOD.replace("sha256=", "sha1=")}, source(), "invalid_signature"),
        (BODY, {"X-Form-Signature": GOOD[:-2] + "00"}, source(), "invalid_signature"),
        (BODY, {"X-Other-Signature": GOOD}, source(), "missing_signature"),
    ],
    ids=[
        "wrong-secret",
        "tampered",
        "trailing-byte",
        "no-header",
        "empty-header",
        "no-prefix",
        "wrong-algo",
        "wrong-digest",
        "wrong-header",
    ],
)
def test_signature_failures(body, headers, src, reason):
    """Each failure gives its reason."""
    assert reason_of(src, inbound(body, headers)) == reason


def test_rotation_and_uppercase_hex():
    """Any configured secret verifies; hex is case-insensitive."""
    assert reason_of(source(["new-secret", SECRET]), inbound()) is None
    upper = "sha256=" + GOOD[len("sha256=") :].upper()
    assert reason_of(source(), inbound(headers={"X-Form-Signature": upper})) is None


def test_has_own_auth_only_with_a_secret():
    """Without a secret the source needs `token:` (config refuses a source with no auth)."""
    assert GOOGLE.has_own_auth(source()) is True
    assert GOOGLE.has_own_auth(SourceSettings(name="g", type="google_forms")) is False


# --- other shapes ------------------------------------------------------------------------


def test_form_encoded_variant_with_json_answers_and_plain_keys():
    """UrlFetchApp without contentType: ids as keys, answers as a JSON string and as own keys."""
    body = urlencode(
        [
            ("source", "google-forms"),
            ("formId", "F1"),
            ("responseId", "R-9"),
            ("respondentEmail", ""),
            ("answers", json.dumps({"Phone": "+44 20 7946 0958"})),
            ("Services", "Install"),
            ("Services", "Repair"),
            ("Name", "Zoë Ångström"),
        ]
    ).encode()
    [record] = GOOGLE.parse(source(), inbound(body, {}, "application/x-www-form-urlencoded"))
    assert record.key == "R-9"
    assert record.get("Phone") == "+44 20 7946 0958" and record.get("Services") == ["Install", "Repair"]
    assert record.get("Name") == "Zoë Ångström" and record.get("respondentEmail") == ""


def test_form_encoded_variant_signed_on_raw_bytes():
    """The signature covers the encoded bytes exactly as posted."""
    body = b"responseId=R-1&Phone=303-555-0142"
    sig = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert reason_of(source(), inbound(body, {"X-Form-Signature": sig}, "application/x-www-form-urlencoded")) is None


def test_ids_win_over_an_answer_titled_the_same():
    """A question titled "responseId" cannot change the idempotency key."""
    body = json.dumps({"responseId": "R-1", "answers": {"responseId": "evil", "Phone": "3035550142"}}).encode()
    [record] = GOOGLE.parse(source(), inbound(body))
    assert record.key == "R-1" and record.get("responseId") == "R-1"


def test_missing_response_id_gives_no_key():
    """No responseId: key None (intake hashes), the mapping reports externId."""
    [record] = GOOGLE.parse(source(), inbound(b'{"answers": {"Phone": "3035550142"}}'))
    assert record.key is None


@pytest.mark.parametrize(
    "body,content_type",
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'{"responseId": "R", "answers": ["Phone"]}', "application/json"),
        (b"\xff\xfe", "application/json"),
        (b"answers=%7Bbroken", "application/x-www-form-urlencoded"),
        (b"<x/>", "application/xml"),
    ],
    ids=["bad-json", "array", "answers-list", "not-utf8", "form-bad-answers", "xml"],
)
def test_malformed_bodies(body, content_type):
    """Bodies outside the contract raise Malformed with a reason."""
    with pytest.raises(Malformed):
        GOOGLE.parse(source(), inbound(body, {}, content_type))


# --- the shipped Apps Script, run under Node with Apps Script stand-ins --------------------

NODE = shutil.which("node")
RUNNER = r"""
const fs = require('fs'), vm = require('vm'), crypto = require('crypto');
const scenario = JSON.parse(fs.readFileSync(0, 'utf8'));
const calls = [], sleeps = [];
let answers = scenario.responses.slice();
const ctx = {
  PropertiesService: {getScriptProperties: () => ({getProperty: (k) => scenario.props[k] || null})},
  Utilities: {
    Charset: {UTF_8: 'UTF-8'},
    computeHmacSha256Signature: (value, key, charset) => {
      const mac = crypto.createHmac('sha256', Buffer.from(key, 'utf8')).update(Buffer.from(value, 'utf8')).digest();
      return Array.from(new Int8Array(mac.buffer, mac.byteOffset, mac.length));  // signed, like Java
    },
    sleep: (ms) => sleeps.push(ms),
  },
  UrlFetchApp: {fetch: (url, params) => {
    calls.push({url, params});
    const next = answers.length > 1 ? answers.shift() : answers[0];
    if (next === 'throw') throw new Error('DNS error: leads.example.com');
    return {getResponseCode: () => next, getContentText: () => '{"status": ' + next + '}'};
  }},
};
vm.createContext(ctx);
vm.runInContext(scenario.code, ctx);
const ev = scenario.event;
const e = {
  source: {getId: () => ev.formId},
  response: {
    getId: () => ev.responseId,
    getTimestamp: () => new Date(ev.timestamp),
    getRespondentEmail: () => ev.respondentEmail,
    getItemResponses: () => ev.items.map(([title, value]) => ({getItem: () => ({getTitle: () => title}), getResponse: () => value})),
  },
};
let error = null;
try { ctx.onFormSubmit(e); } catch (err) { error = String(err.message || err); }
process.stdout.write(JSON.stringify({calls, sleeps, error}));
"""


def doc_script() -> str:
    """The javascript block of docs/sources/google_forms.md, as a user pastes it."""
    blocks = re.findall(r"```javascript\n(.*?)```", DOC.read_text(), re.S)
    assert len(blocks) == 1
    return blocks[0]


def run_script(responses, event=None, props=None):
    """Run the shipped onFormSubmit under Node; return the fetch calls, sleeps and error."""
    fixture = json.loads(BODY)
    event = event or {k: fixture[k] for k in ("formId", "responseId", "timestamp", "respondentEmail")} | {
        "items": list(fixture["answers"].items())
    }
    scenario = {
        "code": doc_script(),
        "responses": responses,
        "event": event,
        "props": props if props is not None else {"LEADRELAY_URL": META["url"], "LEADRELAY_SECRET": SECRET},
    }
    assert NODE is not None
    done = subprocess.run([NODE, "-e", RUNNER], input=json.dumps(scenario), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


NO_NODE = "node is not installed: the shipped Apps Script is not executed"


@pytest.mark.process
@pytest.mark.skipif(NODE is None, reason=NO_NODE)
def test_shipped_script_sends_the_fixture_bytes_and_signature():
    """The script in the docs, given the fixture's response, posts exactly the fixture and its signature."""
    out = run_script([202])
    assert out["error"] is None and len(out["calls"]) == 1
    call = out["calls"][0]
    params = call["params"]
    assert call["url"] == META["url"]
    assert params["payload"].encode() == BODY
    assert params["headers"] == {"X-Form-Signature": GOOD}
    assert params["method"] == "post" and params["contentType"] == "application/json"
    assert params["muteHttpExceptions"] is True and params["followRedirects"] is False


@pytest.mark.process
@pytest.mark.skipif(NODE is None, reason=NO_NODE)
def test_shipped_script_unicode_verifies_and_round_trips():
    """Non-ASCII answers (accents, CJK, emoji) are sent as ASCII escapes; the handler verifies and decodes them."""
    event = {
        "formId": "F",
        "responseId": "R-ü",
        "timestamp": "2026-01-15T17:04:05.000Z",
        "respondentEmail": "",
        "items": [
            ["Nom complet", "Zoë Ångström"],
            ["電話", "+81 3-1234-5678"],
            ["Mood", "😀"],
            ["Grid", [["a", "b"], ["c"]]],
        ],
    }
    out = run_script([202], event=event)
    params = out["calls"][0]["params"]
    body = params["payload"].encode()
    assert body.isascii()
    request = inbound(body, params["headers"])
    GOOGLE.verify(source(), request, NOW)
    [record] = GOOGLE.parse(source(), request)
    assert record.get("Nom complet") == "Zoë Ångström" and record.get("電話") == "+81 3-1234-5678"
    assert record.get("Mood") == "😀" and record.get("Grid") == [["a", "b"], ["c"]]
    assert record.key == "R-ü" and record.get("respondentEmail") is None


@pytest.mark.process
@pytest.mark.skipif(NODE is None, reason=NO_NODE)
@pytest.mark.parametrize(
    "responses,attempts,sleeps,fails",
    [
        ([202], 1, [], False),
        ([200], 1, [], False),
        ([503, 202], 2, [2000], False),
        (["throw", 502, 202], 3, [2000, 8000], False),
        ([429, 202], 2, [2000], False),
        ([500, 500, 500], 3, [2000, 8000], True),
        ([401], 1, [], True),
        ([422], 1, [], True),
        ([400], 1, [], True),
        ([302], 1, [], True),
    ],
    ids=[
        "202",
        "200-duplicate",
        "503-then-ok",
        "network-then-502-then-ok",
        "429-then-ok",
        "5xx-exhausted",
        "401",
        "422",
        "400",
        "redirect",
    ],
)
def test_shipped_script_retry_policy(responses, attempts, sleeps, fails):
    """5xx, 429 and network errors are retried (3 attempts, 2 s then 8 s); 4xx fail at once; failures throw."""
    out = run_script(responses)
    assert len(out["calls"]) == attempts and out["sleeps"] == sleeps
    assert (out["error"] is not None) == fails


@pytest.mark.process
@pytest.mark.skipif(NODE is None, reason=NO_NODE)
def test_shipped_script_refuses_without_properties():
    """Missing Script Properties: the execution fails with a message saying what to set, nothing is sent."""
    out = run_script([202], props={})
    assert out["calls"] == [] and "LEADRELAY_SECRET" in out["error"]
