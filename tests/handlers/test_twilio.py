"""handlers/twilio.py: X-Twilio-Signature (Twilio's published example values), URL forms, rotation, bodySHA256, parse."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from werkzeug.datastructures import Headers

from handlers.base import AuthFailure, Inbound, Malformed, SourceSettings, type_of
from handlers.twilio import EMPTY_TWIML, signature, url_forms
from tests.builders import fixture_bytes, fixture_meta

TWILIO = type_of("twilio")
BODY = fixture_bytes("twilio/inbound_sms_stop.txt")
META = fixture_meta("twilio/inbound_sms_stop.txt")

# Twilio's worked example ("Webhooks security" page and the twilio-python / twilio-node test
# suites): auth token 12345, this URL and these POST parameters. The page's current text uses the
# Caller/From +14158675310; the SDKs' tests +14158675309. Both published signatures are checked.
EXAMPLE_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
EXAMPLES = [
    ("+14158675310", "GvWf1cFY/Q7PnoempGyD5oXAezc="),
    ("+14158675309", "RSOYDt4T1cUTdK1PDd93/VVr8B8="),
]


def example_params(caller: str) -> dict[str, str]:
    """The example's POST parameters."""
    return {"CallSid": "CA1234567890ABCDE", "Caller": caller, "Digits": "1234", "From": caller, "To": "+18005551212"}


def inbound(body: bytes, url: str, signature_value: str | None, content_type="application/x-www-form-urlencoded"):
    """A POST as Twilio makes it."""
    parts = urlsplit(url)
    headers = {"Content-Type": content_type}
    if signature_value is not None:
        headers["X-Twilio-Signature"] = signature_value
    return Inbound("POST", url, parts.path, parse_qs(parts.query), Headers(headers), body, content_type)


def source(*tokens: str) -> SourceSettings:
    """A twilio source with these auth tokens."""
    return SourceSettings(name="sms", type="twilio", options={"auth_token": list(tokens)})


@pytest.mark.parametrize("caller, expected", EXAMPLES)
def test_known_answer_twilio_example(caller, expected):
    """The signature function gives Twilio's published value, and verify() accepts the request."""
    params = example_params(caller)
    assert signature("12345", EXAMPLE_URL, params) == expected
    TWILIO.verify(source("12345"), inbound(urlencode(params).encode(), EXAMPLE_URL, expected), 0)


def test_fixture_signature_and_rotation():
    """The recorded fixture verifies; a second (rotated) token is accepted too; a wrong one is 401."""
    token = META["signature"]["secret"]
    TWILIO.verify(source(token), inbound(BODY, META["url"], META["signature"]["value"]), 0)
    TWILIO.verify(source("old-token", token), inbound(BODY, META["url"], META["signature"]["value"]), 0)
    with pytest.raises(AuthFailure) as failure:
        TWILIO.verify(source("old-token"), inbound(BODY, META["url"], META["signature"]["value"]), 0)
    assert failure.value.reason == "invalid_signature"


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b, u: (b.replace(b"Body=Stop", b"Body=Start"), u),  # a parameter changed
        lambda b, u: (b + b"&Extra=1", u),  # a parameter added
        lambda b, u: (b, u + "?x=1"),  # the URL changed
        lambda b, u: (b, u.replace("https://", "http://")),  # the scheme changed
    ],
)
def test_any_change_breaks_the_signature(mutate):
    """Every part of the signed string counts."""
    body, url = mutate(BODY, META["url"])
    with pytest.raises(AuthFailure):
        TWILIO.verify(source(META["signature"]["secret"]), inbound(body, url, META["signature"]["value"]), 0)


def test_missing_header():
    """No header: missing_signature."""
    with pytest.raises(AuthFailure) as failure:
        TWILIO.verify(source("t"), inbound(BODY, META["url"], None), 0)
    assert failure.value.reason == "missing_signature"


def test_default_port_either_way():
    """Twilio may sign the URL with :443 or without it: both verify."""
    assert url_forms("https://a.example/x?y=1") == ["https://a.example/x?y=1", "https://a.example:443/x?y=1"]
    assert url_forms("https://a.example:443/x") == ["https://a.example:443/x", "https://a.example/x"]
    assert url_forms("https://a.example:8443/x") == ["https://a.example:8443/x"]
    params = {"From": "+13035550142", "Body": "STOP"}
    signed = signature("t", "https://a.example:443/hook", params)
    TWILIO.verify(source("t"), inbound(urlencode(params).encode(), "https://a.example/hook", signed), 0)


def test_repeated_names_sort_their_values():
    """A repeated parameter contributes each value, sorted, after its name (as Twilio's SDKs compute it)."""
    assert signature("t", "u", {"a": ["2", "1"], "B": "x"}) == signature("t", "u", {"B": "x", "a": ["1", "2"]})
    body = b"a=2&a=1&B=x"
    TWILIO.verify(
        source("t"), inbound(body, "https://h/x", signature("t", "https://h/x", {"B": "x", "a": ["1", "2"]})), 0
    )


def test_json_body_with_body_sha256():
    """A JSON webhook is signed over the URL (with ?bodySHA256=) alone, and the body must hash to it."""
    body = b'{"From":"+13035550142","Body":"STOP"}'
    url = f"https://h/x?bodySHA256={hashlib.sha256(body).hexdigest()}"
    TWILIO.verify(source("t"), inbound(body, url, signature("t", url, None), "application/json"), 0)
    with pytest.raises(AuthFailure):
        TWILIO.verify(source("t"), inbound(body + b" ", url, signature("t", url, None), "application/json"), 0)


def test_parse_keeps_every_parameter_and_keys_on_the_message_sid():
    """One record: the parameters by name, key MessageSid, event sms; a non-form body is malformed."""
    (record,) = TWILIO.parse(source("t"), inbound(BODY, META["url"], None))
    assert record.key == "SM3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c" and record.event == "sms"
    assert record.fields["Body"] == "Stop" and record.fields["From"] == "+13035550142"
    with pytest.raises(Malformed):
        TWILIO.parse(source("t"), inbound(b"{}", META["url"], None, "application/json"))


def test_reply_is_empty_twiml_once_stored():
    """A stored message is answered 200 with an empty <Response>; a refusal keeps intake's answer."""
    reply = TWILIO.reply(source("t"), inbound(BODY, META["url"], None), 202, {"event_id": 1})
    assert reply is not None and reply.status == 200 and reply.body == EMPTY_TWIML and "xml" in reply.content_type
    assert TWILIO.reply(source("t"), inbound(BODY, META["url"], None), 401, {"error": "x"}) is None
