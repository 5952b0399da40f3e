"""Tests for handlers/unbounce.py: data.json arrays, page fields, the synthesized submission id, token auth."""

import hashlib
import json
from urllib.parse import urlencode

import pytest

from handlers.auth import check_token
from handlers.base import AuthFailure, Malformed, SourceSettings
from handlers.unbounce import Unbounce, submission_id, unwrap
from tests.builders import DATA as TEST_DATA
from tests.builders import inbound as build_inbound

DATA = TEST_DATA / "unbounce"
BODY = (DATA / "form_submit.txt").read_bytes()
META = json.loads((DATA / "form_submit.meta.json").read_text())
FORM = "application/x-www-form-urlencoded"
UNBOUNCE = Unbounce()
TOKEN = "ub-url-token-3f9a"


def inbound(body=BODY, content_type=FORM, query=None, headers=None):
    """Build an Inbound as the intake would."""
    return build_inbound(
        body,
        url="https://leads.example.com/webhooks/unbounce",
        headers={"Content-Type": content_type, **(headers or {})},
        content_type=content_type,
        query=query or {},
    )


def source(tokens=(TOKEN,)):
    """An Unbounce source (token auth only)."""
    return SourceSettings(name="unbounce", type="unbounce", tokens=list(tokens))


def form_body(data, **outer):
    """An Unbounce-style form body: data.json (every value an array) plus page fields."""
    fields = {"data.json": json.dumps(data, ensure_ascii=False), "data.xml": "<form_data/>", **outer}
    return urlencode(fields).encode()


def test_parse_fixture():
    """Arrays unwrapped; page fields; the synthesized id follows the fixture's recipe."""
    [record] = UNBOUNCE.parse(source(), inbound())
    f = record.fields
    assert record.key is None and record.event == "form_submit"
    assert f["first_name"] == "Ada" and f["phone_number"] == "303-555-0142" and f["how_soon"] == "ASAP"
    assert f["page_id"] == "a2838d98-4cf4-11df-a3fd-00163e372d58" and f["variant"] == "a"
    assert f["page_name"] == "Free Quote" and f["page_url"] == "https://lp.example.com/free-quote/"
    recipe = "unbounce|a2838d98-4cf4-11df-a3fd-00163e372d58|2026-01-15 05:04 PM UTC|ada.example@example.com"
    assert "sha256('unbounce|' + page_uuid" in META["expected"]["syntheticExternId"]
    assert f["ub_submission_id"] == "ub-" + hashlib.sha256(recipe.encode()).hexdigest()[:20]
    assert "data.xml" not in f and "data.json" not in f


def test_synthesized_id_is_stable_and_distinguishes_people():
    """A redelivery gives the same id; another email or minute gives another one."""
    base = {
        "email": ["A@Example.com"],
        "date_submitted": ["2026-01-15"],
        "time_submitted": ["05:04 PM UTC"],
        "page_uuid": ["p1"],
    }
    first = UNBOUNCE.parse(source(), inbound(form_body(base)))[0].fields["ub_submission_id"]
    again = UNBOUNCE.parse(source(), inbound(form_body(base)))[0].fields["ub_submission_id"]
    other = UNBOUNCE.parse(source(), inbound(form_body({**base, "email": ["b@example.com"]})))[0]
    later = UNBOUNCE.parse(source(), inbound(form_body({**base, "time_submitted": ["05:05 PM UTC"]})))[0]
    assert first == again and first.startswith("ub-") and len(first) == 23
    assert len({first, other.fields["ub_submission_id"], later.fields["ub_submission_id"]}) == 3


def test_synthesized_id_falls_back_to_phone_then_record():
    """Without an email the phone's digits identify the person; without both, the whole submission does."""
    by_phone = submission_id({"phone_number": "(303) 555-0142", "page_id": "p", "date_submitted": "d"})
    assert by_phone == submission_id({"phone_number": "303.555.0142", "page_id": "p", "date_submitted": "d"})
    anon_a = submission_id({"page_id": "p", "comment": "a"})
    anon_b = submission_id({"page_id": "p", "comment": "b"})
    assert anon_a != anon_b


@pytest.mark.parametrize(
    "value,expected",
    [(["x"], "x"), ([], None), (["a", "b"], ["a", "b"]), ("plain", "plain"), ([["nested"]], ["nested"])],
)
def test_unwrap(value, expected):
    """One element → it; none → None; several → the list; non-lists unchanged."""
    assert unwrap(value) == expected


def test_multi_select_unicode_and_outer_fill_in():
    """Checkbox answers stay a list; unicode survives; page fields come from the form when data.json lacks them."""
    body = form_body(
        {"prénom": ["Zoë"], "services": ["Roof", "Gutters"], "phone": ["+44 20 7946 0958"]},
        page_id="pg-9",
        page_name="Été",
        page_url="https://lp/x",
        variant="b",
    )
    [record] = UNBOUNCE.parse(source(), inbound(body))
    f = record.fields
    assert f["prénom"] == "Zoë" and f["services"] == ["Roof", "Gutters"]
    assert (f["page_id"], f["page_name"], f["variant"]) == ("pg-9", "Été", "b")


def test_json_content_type():
    """Unbounce's optional JSON format: the body is data.json itself."""
    body = json.dumps({"email": ["a@example.com"], "phone_number": ["3035550142"], "page_id": ["p"]}).encode()
    [record] = UNBOUNCE.parse(source(), inbound(body, "application/json"))
    assert record.fields["email"] == "a@example.com" and record.fields["ub_submission_id"].startswith("ub-")


def test_form_without_data_json():
    """A form body with the answers as plain fields is read as it is."""
    body = urlencode({"email": "a@example.com", "phone_number": "3035550142", "page_id": "p"}).encode()
    [record] = UNBOUNCE.parse(source(), inbound(body))
    assert record.fields["phone_number"] == "3035550142"


@pytest.mark.parametrize(
    "body,content_type",
    [
        (urlencode({"data.json": "{not json"}).encode(), FORM),
        (urlencode({"data.json": "[1,2]"}).encode(), FORM),
        (urlencode([("data.json", "{}"), ("data.json", "{}")]).encode(), FORM),
        (b"<xml/>", "application/xml"),
        (b"[]", "application/json"),
        (b"\xff", "application/json"),
    ],
    ids=["bad-json", "json-array", "repeated", "xml", "json-array-body", "not-utf8"],
)
def test_parse_malformed(body, content_type):
    """Unreadable submissions are Malformed (stored, answered 2xx by intake)."""
    with pytest.raises(Malformed):
        UNBOUNCE.parse(source(), inbound(body, content_type))


@pytest.mark.parametrize(
    "query,headers,tokens,expected",
    [
        ({"token": [TOKEN]}, {}, [TOKEN], True),
        ({}, {"X-Leadrelay-Token": TOKEN}, [TOKEN], True),
        ({"token": ["wrong"]}, {}, [TOKEN], False),
        ({}, {}, [TOKEN], False),
        ({"token": [""]}, {}, [TOKEN], False),
        ({"token": [TOKEN]}, {}, ["new-token", TOKEN], True),
        ({"token": [TOKEN.upper()]}, {}, [TOKEN], False),
    ],
    ids=["query", "header", "wrong-token", "missing", "empty", "rotated", "case-differs"],
)
def test_token_table(query, headers, tokens, expected):
    """Unbounce can only carry the secret in the URL (or a header from a proxy)."""
    assert check_token(source(tokens), inbound(query=query, headers=headers)) is expected


def test_no_own_scheme():
    """Unbounce signs nothing: verify never passes on its own, and the type answers 2xx."""
    assert not UNBOUNCE.has_own_auth(source())
    with pytest.raises(AuthFailure) as info:
        UNBOUNCE.verify(source(), inbound(), 0)
    assert info.value.reason == "invalid_token"
    assert UNBOUNCE.retries is True
