"""Tests for handlers/gravityforms.py: token auth (header or Bearer), JSON/FORM, All Fields / Select Fields."""

import json
from typing import Any
from urllib.parse import urlencode

import pytest
from marshmallow import ValidationError

from handlers.auth import check_token
from handlers.base import AuthFailure, Malformed, SourceSettings
from handlers.gravityforms import GravityForms, GravityFormsOptions, entry_key
from tests.builders import DATA as TEST_DATA
from tests.builders import inbound as build_inbound

DATA = TEST_DATA / "gravityforms"
BODY = (DATA / "all_fields_json.json").read_bytes()
META = json.loads((DATA / "all_fields_json.meta.json").read_text())
TOKEN = META["auth"]["token"]
GRAVITY = GravityForms()
FORM = "application/x-www-form-urlencoded"


def inbound(body=BODY, headers=None, content_type="application/json", query=None):
    """Build an Inbound as the intake would."""
    return build_inbound(
        body,
        url="https://leads.example.com/webhooks/gravityforms",
        headers={"Content-Type": content_type, **(headers or {})},
        content_type=content_type,
        query=query or {},
    )


def source(tokens=(TOKEN,), forms=None):
    """A Gravity Forms source with tokens and optional per-form maps."""
    return SourceSettings(
        name="gf", type="gravityforms", tokens=list(tokens), options={"forms": forms} if forms else {}
    )


def authenticate(src, request):
    """What intake does: the shared token first, then the type's own check."""
    if check_token(src, request):
        return
    if GRAVITY.has_own_auth(src):
        GRAVITY.verify(src, request, 0)
        return
    raise AuthFailure("invalid_token")


def test_fixture_bearer_header_authenticates():
    """The fixture's feed header `Authorization: Bearer <token>` is accepted."""
    authenticate(source(), inbound(headers=META["headers"]))


@pytest.mark.parametrize(
    "headers,query,tokens,reason",
    [
        ({"Authorization": "Bearer wrong"}, {}, [TOKEN], "invalid_token"),
        ({}, {}, [TOKEN], "invalid_token"),
        ({"Authorization": f"Basic {TOKEN}"}, {}, [TOKEN], "invalid_token"),
        ({"Authorization": "Bearer "}, {}, [TOKEN], "invalid_token"),
        ({"Authorization": TOKEN}, {}, [TOKEN], "invalid_token"),
        ({"X-Leadrelay-Token": "wrong"}, {}, [TOKEN], "invalid_token"),
        ({"Authorization": f"Bearer {TOKEN}"}, {}, ["new-token", TOKEN], None),
        ({"Authorization": f"bearer  {TOKEN} "}, {}, [TOKEN], None),
        ({"X-Leadrelay-Token": TOKEN}, {}, [TOKEN], None),
        ({}, {"token": [TOKEN]}, [TOKEN], None),
        ({"Authorization": "Bearer wrong", "X-Leadrelay-Token": TOKEN}, {}, [TOKEN], None),
    ],
    ids=[
        "wrong-bearer",
        "missing",
        "basic-scheme",
        "empty-bearer",
        "no-scheme",
        "wrong-header-token",
        "rotated",
        "scheme-case-and-spaces",
        "leadrelay-header",
        "query-token",
        "either-matches",
    ],
)
def test_token_failure_table(headers, query, tokens, reason):
    """Every place a Gravity Forms feed can put the token, right and wrong."""
    request = inbound(headers=headers, query=query)
    if reason is None:
        authenticate(source(tokens), request)
        return
    with pytest.raises(AuthFailure) as info:
        authenticate(source(tokens), request)
    assert info.value.reason == reason


def test_no_token_no_own_auth():
    """Without `token:` the type has no scheme of its own (config refuses such a source)."""
    assert not GRAVITY.has_own_auth(source(tokens=()))


def test_parse_all_fields_json_fixture():
    """The entry object as it is: input ids are exact keys; key from form and entry ids."""
    [record] = GRAVITY.parse(source(), inbound())
    assert record.key == "gf:3:1287" and record.event == "form_submission"
    f = record.fields
    assert f["1.3"] == "Ada" and f["1.6"] == "Example" and f["2"] == "ada.example@example.com"
    assert f["4.5"] == "80202" and f["form_id"] == "3" and f["source_url"] == "https://www.example.com/contact/"
    for name, value in META["expected"]["hotSignals"].items():
        assert record.get(name) == value


def test_parse_all_fields_form_format():
    """Request Format FORM: the same entry, form-encoded."""
    entry = json.loads(BODY)
    body = urlencode({k: "" if v is None else v for k, v in entry.items()}).encode()
    [record] = GRAVITY.parse(source(), inbound(body, content_type=FORM))
    assert record.key == "gf:3:1287" and record.fields["1.3"] == "Ada" and record.fields["3"] == "(303) 555-0142"


def test_parse_select_fields():
    """Select Fields: keys the admin chose; an entry_id key is an id too; no id → no key."""
    body = urlencode({"first_name": "Zoë", "phone": "+44 20 7946 0958", "entry_id": "77", "form_id": "9"}).encode()
    [record] = GRAVITY.parse(source(), inbound(body, content_type=FORM))
    assert record.key == "gf:9:77" and record.fields["first_name"] == "Zoë"
    [anonymous] = GRAVITY.parse(source(), inbound(json.dumps({"email": "a@example.com"}).encode()))
    assert anonymous.key is None


@pytest.mark.parametrize(
    "fields,key",
    [
        ({"id": "1287", "form_id": "3"}, "gf:3:1287"),
        ({"id": 1287, "form_id": 3}, "gf:3:1287"),
        ({"id": "1287"}, "gf:1287"),
        ({"id": "", "form_id": "3"}, None),
        ({"form_id": "3"}, None),
        ({"id": 12.0, "form_id": 3}, "gf:3:12"),
    ],
)
def test_entry_key(fields, key):
    """The idempotency key from the entry's ids."""
    assert entry_key(fields) == key


@pytest.mark.parametrize(
    "body,content_type",
    [
        (b"", "application/json"),
        (b"{oops", "application/json"),
        (b"[1]", "application/json"),
        (b"<entry/>", "text/xml"),
        (b"\xff", "application/json"),
    ],
    ids=["empty", "bad-json", "array", "xml", "not-utf8"],
)
def test_parse_malformed(body, content_type):
    """Unreadable bodies are Malformed (stored, answered 2xx by intake)."""
    with pytest.raises(Malformed):
        GRAVITY.parse(source(), inbound(body, content_type=content_type))


def test_forms_option_schema():
    """Form ids and YAML-number input ids become strings; bad maps are refused at start-up."""
    loaded = GravityFormsOptions().load({"forms": {3: {"firstName": 5.3, "leadPhone": [7, "8"], "email": None}}})
    assert loaded["forms"] == {"3": {"firstName": "5.3", "leadPhone": ["7", "8"], "email": None}}
    bad: dict[str, Any]
    for bad in (
        {"forms": []},
        {"forms": {3: "x"}},
        {"forms": {3: {"notAField": "1"}}},
        {"forms": {3: {"leadPhone": {"a": 1}}}},
        {"other": 1},
    ):
        with pytest.raises(ValidationError):
            GravityFormsOptions().load(bad)
