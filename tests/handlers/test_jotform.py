"""Tests for handlers/jotform.py: multipart with a rawRequest JSON string, keys, token-only auth."""

import json
from urllib.parse import urlencode

import pytest

from handlers import auth
from handlers.base import AuthFailure, Malformed, SourceSettings, type_of
from tests.builders import DATA as TEST_DATA
from tests.builders import inbound as build_inbound

DATA = TEST_DATA / "jotform"
BODY = (DATA / "submission_multipart.txt").read_bytes()
META = json.loads((DATA / "submission_multipart.meta.json").read_text())
JOTFORM = type_of("jotform")
BOUNDARY = "leadrelay-jf-boundary"


def inbound(body=BODY, content_type=META["content_type"], url=META["url"], headers=None):
    """Build an Inbound as the intake would (query parsed from the URL)."""
    return build_inbound(body, url=url, headers=headers or {"Content-Type": content_type}, content_type=content_type)


def source(tokens=("jf-token",)):
    """A Jotform source authenticated by its URL token."""
    return SourceSettings(name="jotform", type="jotform", tokens=list(tokens))


def multipart(fields):
    """A Jotform-like multipart body from (name, value) pairs."""
    body = "".join(f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n' for n, v in fields)
    return (body + f"--{BOUNDARY}--\r\n").encode(), f"multipart/form-data; boundary={BOUNDARY}"


def submission(raw, **top):
    """A submission body: top-level fields plus rawRequest (a dict is JSON-encoded as Jotform does)."""
    fields = {"formID": "240123456789012", "submissionID": "6000000000000000001", **top}
    fields["rawRequest"] = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
    return multipart(fields.items())


def test_fixture_known_answer():
    """rawRequest keys (nested as sent) plus top-level fields; key = submissionID."""
    [record] = JOTFORM.parse(source(), inbound())
    assert record.key == "5912345678901234567" == META["expected"]["externId"]
    assert record.get("q3_name.first") == "Ada" and record.get("q3_name.last") == "Example"
    assert record.get("q5_phoneNumber.full") == "(303) 555-0142"
    assert record.get("q6_address.postal") == "80202" and record.get("q7_howSoon") == "Today"
    assert record.get("formID") == "240123456789012" and record.get("formTitle") == "Free Estimate"
    assert record.get("ip") == "203.0.113.99" and record.get("pretty").startswith("Name:Ada Example")
    assert record.get("event_id") == "1768496601000_240123456789012_a1B2c3D"
    assert "rawRequest" not in record.fields


def test_top_level_ids_win_over_colliding_answers():
    """An answer keyed like a top-level id cannot change the key."""
    body, ctype = submission({"submissionID": "evil", "q3_phone": "3035550142"})
    [record] = JOTFORM.parse(source(), inbound(body, ctype))
    assert record.key == "6000000000000000001" == record.get("submissionID")


def test_urlencoded_and_json_relays():
    """The same fields urlencoded, or a JSON relay with rawRequest decoded or as a string."""
    raw = {"q4_phone": "3035550142"}
    body = urlencode({"submissionID": "61", "rawRequest": json.dumps(raw)}).encode()
    assert JOTFORM.parse(source(), inbound(body, "application/x-www-form-urlencoded"))[0].key == "61"
    for value in (raw, json.dumps(raw)):
        body = json.dumps({"submissionID": 62, "rawRequest": value}).encode()
        [record] = JOTFORM.parse(source(), inbound(body, "application/json"))
        assert record.key == "62" and record.get("q4_phone") == "3035550142"


def test_unicode_answers():
    """UTF-8 in multipart parts and in the JSON string survive."""
    body, ctype = submission({"q3_name": {"first": "Zoë", "last": "Ångström-山田"}, "q9_notes": "¿Mañana? 😀"})
    [record] = JOTFORM.parse(source(), inbound(body, ctype))
    assert record.get("q3_name.last") == "Ångström-山田" and record.get("q9_notes") == "¿Mañana? 😀"


def test_missing_submission_id_gives_no_key():
    """Without submissionID the key is None (intake hashes; the mapping reports externId)."""
    body, ctype = multipart([("rawRequest", json.dumps({"q3_phone": "3035550142"}))])
    [record] = JOTFORM.parse(source(), inbound(body, ctype))
    assert record.key is None


def test_webhook_url_token_is_masked():
    """Jotform echoes the webhook URL, token included: the record keeps it masked."""
    body, ctype = submission({"q1_x": "y"}, webhookURL="https://leads.example.com/webhooks/jotform?token=s3cret&a=1")
    [record] = JOTFORM.parse(source(), inbound(body, ctype))
    assert record.get("webhookURL") == "https://leads.example.com/webhooks/jotform?token=***&a=1"
    assert "s3cret" not in json.dumps(record.fields)


@pytest.mark.parametrize(
    "body,ctype",
    [
        multipart([("formID", "1"), ("submissionID", "2")]),
        multipart([("submissionID", "2"), ("rawRequest", "{not json")]),
        multipart([("submissionID", "2"), ("rawRequest", "[1, 2]")]),
        multipart([("submissionID", "2"), ("rawRequest", "{}"), ("rawRequest", "{}")]),
        (b"<xml/>", "application/xml"),
        (b"[]", "application/json"),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
    ],
    ids=["no-rawRequest", "bad-json", "not-object", "twice", "xml", "json-array", "broken-multipart"],
)
def test_malformed(body, ctype):
    """Bodies that are not a Jotform submission raise Malformed."""
    with pytest.raises(Malformed):
        JOTFORM.parse(source(), inbound(body, ctype))


# --- auth: the source's token, in the webhook URL -------------------------------------------


@pytest.mark.parametrize(
    "url,headers,expected",
    [
        (META["url"] + "?token=jf-token", None, True),
        (META["url"] + "?token=jf-old", None, True),
        (META["url"] + "?token=wrong", None, False),
        (META["url"], {"X-Leadrelay-Token": "jf-token"}, True),
        (META["url"], None, False),
        (META["url"] + "?token=", None, False),
    ],
    ids=["token", "rotated", "wrong-token", "header", "no-token", "empty-token"],
)
def test_token_in_url(url, headers, expected):
    """Jotform signs nothing: the URL token is the auth (rotation: several tokens)."""
    request = inbound(url=url, headers={**(headers or {}), "Content-Type": META["content_type"]})
    assert auth.check_token(source(("jf-token", "jf-old")), request) is expected


def test_no_own_scheme():
    """No own scheme: config requires `token:`; verify refuses if ever called."""
    assert JOTFORM.has_own_auth(source()) is False and JOTFORM.retries is True
    with pytest.raises(AuthFailure):
        JOTFORM.verify(source(), inbound(), 0)
