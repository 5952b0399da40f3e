"""Tests for handlers/facebook.py: X-Hub-Signature-256, the GET handshake, leadgen batches, Graph fetch."""

import base64
import hashlib
import hmac
import json
from urllib.parse import parse_qs

import pytest
import requests
from marshmallow import ValidationError

from engage.fake_server import FakeServer
from handlers.base import AuthFailure, FetchError, Malformed, Record, SourceSettings
from handlers.facebook import Facebook, FacebookOptions
from harness.fake_graph import FakeGraph
from tests.builders import DATA as TEST_DATA
from tests.builders import inbound as build_inbound
from tests.lanes import process_fixture

DATA = TEST_DATA / "facebook_leadads"
APP_SECRET = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
VERIFY_TOKEN = "meta-verify-7c1e2f"
PAGE_TOKEN = "EAAB-page-token-for-tests"
NOW = 1768496645.123
FACEBOOK = Facebook()
BODY = (DATA / "leadgen_single.json").read_bytes()
META = json.loads((DATA / "leadgen_single.meta.json").read_text())
LEAD = json.loads((DATA / "lead_graph_response_1234567890123456.json").read_text())
GOOD = META["headers"]["X-Hub-Signature-256"]


def inbound(body=BODY, headers=None, query=None, method="POST"):
    """Build an Inbound as the intake would."""
    return build_inbound(
        body,
        url="https://leads.example.com/webhooks/meta",
        headers=headers,
        content_type="application/json",
        method=method,
        query=query or {},
    )


def source(**options):
    """A facebook source; options override the test defaults (None removes a key)."""
    base = {"app_secret": [APP_SECRET], "verify_token": [VERIFY_TOKEN], "page_access_token": PAGE_TOKEN}
    base.update(options)
    return SourceSettings(name="meta", type="facebook", options={k: v for k, v in base.items() if v is not None})


def sign(body, secret=APP_SECRET):
    """Meta's scheme, written out independently of the handler."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --------------------------------------------------------------------------- signature


def test_fixture_signature_known_answer():
    """The fixture's signature is the independent computation, and verifies."""
    assert sign(BODY) == META["signature"]["value"] == GOOD
    FACEBOOK.verify(source(), inbound(headers=META["headers"]), NOW)


@pytest.mark.parametrize(
    "body,headers,src,reason",
    [
        (BODY, {"X-Hub-Signature-256": GOOD}, source(app_secret=["wrong"]), "invalid_signature"),
        (
            BODY.replace(b"1234567890123456", b"1234567890123457"),
            {"X-Hub-Signature-256": GOOD},
            source(),
            "invalid_signature",
        ),
        (BODY + b" ", {"X-Hub-Signature-256": GOOD}, source(), "invalid_signature"),
        (BODY, {}, source(), "missing_signature"),
        (BODY, {"X-Hub-Signature-256": ""}, source(), "missing_signature"),
        (BODY, {"X-Hub-Signature": META["headers"]["X-Hub-Signature"]}, source(), "missing_signature"),
        (BODY, {"X-Hub-Signature-256": GOOD.replace("sha256=", "sha1=")}, source(), "invalid_signature"),
        (BODY, {"X-Hub-Signature-256": GOOD[len("sha256=") :]}, source(), "invalid_signature"),
        (
            BODY,
            {
                "X-Hub-Signature-256": "sha256="
                + base64.b64encode(hmac.new(APP_SECRET.encode(), BODY, hashlib.sha256).digest()).decode()
            },
            source(),
            "invalid_signature",
        ),
        (BODY, {"X-Hub-Signature-256": GOOD}, source(app_secret=None), "invalid_signature"),
        (BODY, {"X-Hub-Signature-256": GOOD}, source(app_secret=["old-secret", APP_SECRET]), None),
        (BODY, {"x-hub-signature-256": GOOD}, source(), None),
        (BODY, {"X-Hub-Signature-256": "sha256=" + GOOD[len("sha256=") :].upper()}, source(), None),
    ],
    ids=[
        "wrong-secret",
        "tampered-body",
        "trailing-byte",
        "missing-header",
        "empty-header",
        "legacy-sha1-only",
        "wrong-prefix",
        "no-prefix",
        "base64-not-hex",
        "no-secret-configured",
        "rotated-second-matches",
        "header-case",
        "upper-hex",
    ],
)
def test_signature_failure_table(body, headers, src, reason):
    """Each way the signature can be wrong gives its reason; rotation and case variants pass."""
    if reason is None:
        FACEBOOK.verify(src, inbound(body, headers), NOW)
        return
    with pytest.raises(AuthFailure) as info:
        FACEBOOK.verify(src, inbound(body, headers), NOW)
    assert info.value.reason == reason


def test_has_own_auth_only_with_app_secret():
    """Without an app secret the source relies on `token` (e.g. ?token= in the callback URL)."""
    assert FACEBOOK.has_own_auth(source())
    assert not FACEBOOK.has_own_auth(source(app_secret=None))


# --------------------------------------------------------------------------- handshake

HANDSHAKE = (DATA / "verify_handshake_query.txt").read_text()
HANDSHAKE_META = json.loads((DATA / "verify_handshake_query.meta.json").read_text())


def handshake(query_text, src=None):
    """Run the handshake hook on a raw query string."""
    return FACEBOOK.handshake(src or source(), inbound(b"", query=parse_qs(query_text), method="GET"))


def test_handshake_fixture_echoes_challenge():
    """The fixture's query answers 200 with the challenge as the body."""
    expected = HANDSHAKE_META["expected_response"]
    assert handshake(HANDSHAKE) == (expected["status"], expected["body"])


@pytest.mark.parametrize(
    "query,src,status",
    [
        (HANDSHAKE.replace("meta-verify-7c1e2f", "meta-verify-WRONG"), None, 403),
        (HANDSHAKE.replace("hub.mode=subscribe", "hub.mode=unsubscribe"), None, 403),
        ("hub.challenge=1158201444&hub.verify_token=meta-verify-7c1e2f", None, 403),
        ("hub.mode=subscribe&hub.challenge=1158201444", None, 403),
        ("hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=", None, 403),
        (HANDSHAKE, source(verify_token=None), 403),
        (HANDSHAKE, source(verify_token=["new-token", VERIFY_TOKEN]), 200),
        ("hub.mode=subscribe&hub.verify_token=meta-verify-7c1e2f", None, 400),
        ("hub.mode=subscribe&hub.verify_token=meta-verify-7c1e2f&hub.challenge=" + "9" * 300, None, 400),
    ],
    ids=[
        "wrong-token",
        "wrong-mode",
        "no-mode",
        "no-token",
        "empty-token",
        "no-token-configured",
        "rotated-token",
        "no-challenge",
        "oversized-challenge",
    ],
)
def test_handshake_failure_table(query, src, status):
    """Only a subscribe with a matching verify token echoes; a bad challenge is refused."""
    code, text = handshake(query, src)
    assert code == status
    if status == 200:
        assert text == "1158201444"
    else:
        assert "1158201444" not in text


# --------------------------------------------------------------------------- parse


def test_parse_single_fixture():
    """One leadgen change → one record to fetch, keyed by leadgen_id."""
    [record] = FACEBOOK.parse(source(), inbound())
    assert record.key == META["expected"]["idempotencyKey"] == "1234567890123456"
    assert record.fetch == {"object": "lead", "id": "1234567890123456"}
    assert record.event == "leadgen"
    assert record.fields["page_id"] == "102938475610293" and record.fields["form_id"] == "987654321098765"
    assert record.fields["ad_id"] == "120210000000000001" and record.fields["entry_time"] == 1768496645


def change(lead_id, page="111", **extra):
    """One leadgen change value."""
    value = {"leadgen_id": lead_id, "page_id": page, "form_id": "55", "created_time": 1768496640, **extra}
    return {"field": "leadgen", "value": value}


def test_parse_batch_several_entries_and_changes():
    """Two Pages, several changes, a non-leadgen field ignored, an organic lead without ad_id."""
    body = {
        "object": "page",
        "entry": [
            {
                "id": "111",
                "time": 1768496645,
                "changes": [change("1001", ad_id="9"), {"field": "feed", "value": {"x": 1}}, change("1002")],
            },
            {"id": "222", "time": 1768496646, "changes": [change("2001", page="222")]},
        ],
    }
    records = FACEBOOK.parse(source(), inbound(json.dumps(body).encode()))
    assert [r.key for r in records] == ["1001", "1002", "2001"]
    assert [r.fields["page_id"] for r in records] == ["111", "111", "222"]
    assert "ad_id" not in records[1].fields
    assert all(r.fetch == {"object": "lead", "id": r.key} for r in records)


def test_parse_one_bad_change_keeps_its_siblings():
    """A change without leadgen_id (or not an object) still becomes a record, with no key and nothing to fetch."""
    body = {
        "object": "page",
        "entry": [
            {
                "id": "111",
                "time": 1,
                "changes": [
                    change("1001"),
                    {"field": "leadgen", "value": {"page_id": "111"}},
                    {"field": "leadgen", "value": "junk"},
                ],
            }
        ],
    }
    records = FACEBOOK.parse(source(), inbound(json.dumps(body).encode()))
    assert len(records) == 3
    assert records[0].fetch and records[0].key == "1001"
    assert records[1].key is None and records[1].fetch is None
    assert records[2].key is None and records[2].fields["value"] == "junk"


def test_numeric_ids_become_text():
    """A leadgen id sent as a JSON number is still the same key."""
    body = {"object": "page", "entry": [{"id": 111, "time": 1, "changes": [change(1234567890123456)]}]}
    [record] = FACEBOOK.parse(source(), inbound(json.dumps(body).encode()))
    assert record.key == "1234567890123456" and record.fetch is not None and record.fetch["id"] == "1234567890123456"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b"[]",
        b'{"object":"page"}',
        b'{"object":"page","entry":{}}',
        b'{"object":"page","entry":[{"id":"1","changes":[{"field":"feed","value":{}}]}]}',
        b'{"object":"page","entry":[]}',
        b"\xff\xfe",
    ],
    ids=["empty", "not-json", "array", "no-entry", "entry-not-list", "no-leadgen", "empty-entry", "not-utf8"],
)
def test_parse_malformed(body):
    """Bodies that hold no leadgen change are Malformed (stored, answered 2xx by intake)."""
    with pytest.raises(Malformed):
        FACEBOOK.parse(source(), inbound(body))


# --------------------------------------------------------------------------- options


def test_options_schema():
    """page_access_token is required (string or page → token), the API base and version have defaults."""
    loaded = FacebookOptions().load({"app_secret": "s", "page_access_token": "t"})
    assert loaded["api_base_url"] == "https://graph.facebook.com" and loaded["graph_version"].startswith("v")
    assert loaded["app_secret"] == ["s"]
    pages = FacebookOptions().load({"page_access_token": {102938475610293: "t1", "222": "t2"}})
    assert pages["page_access_token"] == {"102938475610293": "t1", "222": "t2"}
    for bad in (
        {},
        {"page_access_token": ""},
        {"page_access_token": {"1": ""}},
        {"page_access_token": "t", "graph_version": "21"},
        {"page_access_token": "t", "api_base_url": "nope"},
    ):
        with pytest.raises(ValidationError):
            FacebookOptions().load(bad)


# --------------------------------------------------------------------------- fetch (real socket)


class ServedGraph(FakeGraph):
    """The fake Graph API with where the fixture serves it."""

    url: str
    server: FakeServer


@pytest.fixture
@process_fixture
def graph():
    """The fake Graph API on 127.0.0.1 with the fixture lead."""
    fake = ServedGraph(tokens={PAGE_TOKEN, "token-222"})
    fake.add_lead(LEAD)
    with fake.serve() as server:
        fake.url = server.url
        fake.server = server
        yield fake


@pytest.fixture
def session():
    """A plain requests session, as the fetch pool passes one."""
    with requests.Session() as s:
        yield s


def parsed_record():
    """The fixture webhook's record, as the fetch pool hands it over (its key is not kept)."""
    [record] = FACEBOOK.parse(source(), inbound())
    return Record(key=None, fields=record.fields, fetch=record.fetch)


def test_fetch_fixture_lead(graph, session):
    """GET /v21.0/{id} with the Page token in a header → answers by name, ids, metadata."""
    src = source(api_base_url=graph.url, graph_version="v21.0")
    done = FACEBOOK.fetch(src, parsed_record(), session)
    assert done.key == "1234567890123456" and done.event == "leadgen" and done.fetch is None
    f = done.fields
    assert f["full_name"] == "Ada Example" and f["phone_number"] == "+13035550142" and f["zip_code"] == "80202"
    assert f["when_would_you_like_to_be_contacted?"] == "today"
    assert f["leadgen_id"] == "1234567890123456" and f["page_id"] == "102938475610293"
    assert f["form_id"] == "987654321098765" and f["ad_id"] == "120210000000000001" and f["is_organic"] is False
    assert f["created_time"] == "2026-01-15T17:04:00+0000"
    [seen] = graph.requests
    assert seen.path == "/v21.0/1234567890123456"
    assert seen.args["fields"] == "created_time,id,ad_id,form_id,field_data,is_organic,platform"
    assert seen.authorization == f"Bearer {PAGE_TOKEN}" and "access_token" not in seen.args
    assert "appsecret_proof" not in seen.args


def test_fetch_multi_value_answers_and_question_collisions(graph, session):
    """Several values stay a list; a question named like an id does not replace the webhook's id."""
    graph.add_lead(
        {
            "id": "777",
            "form_id": "55",
            "field_data": [
                {"name": "services", "values": ["roof", "gutters"]},
                {"name": "page_id", "values": ["spoof"]},
                {"name": "phone_number", "values": ["+447911123456"]},
                {"name": "empty", "values": []},
            ],
        }
    )
    record = Record(key=None, fields={"leadgen_id": "777", "page_id": "111"}, fetch={"object": "lead", "id": "777"})
    done = FACEBOOK.fetch(source(api_base_url=graph.url), record, session)
    assert done.fields["services"] == ["roof", "gutters"] and done.fields["page_id"] == "111"
    assert done.fields["empty"] is None and done.fields["phone_number"] == "+447911123456"


def test_fetch_uses_the_pages_own_token(graph, session):
    """With page_id → token, each lead's Page token is used; an unknown Page is a permanent failure."""
    graph.add_lead({"id": "2001", "field_data": []})
    src = source(api_base_url=graph.url, page_access_token={"102938475610293": PAGE_TOKEN, "222": "token-222"})
    FACEBOOK.fetch(
        src, Record(None, {"leadgen_id": "2001", "page_id": "222"}, fetch={"object": "lead", "id": "2001"}), session
    )
    assert graph.requests[-1].authorization == "Bearer token-222"
    with pytest.raises(FetchError) as info:
        FACEBOOK.fetch(src, Record(None, {"page_id": "999"}, fetch={"object": "lead", "id": "2001"}), session)
    assert not info.value.retryable and "999" in str(info.value)


def test_fetch_appsecret_proof_opt_in(graph, session):
    """appsecret_proof = hex HMAC-SHA256(app secret, token), sent only when enabled."""
    FACEBOOK.fetch(source(api_base_url=graph.url, appsecret_proof=True), parsed_record(), session)
    expected = hmac.new(APP_SECRET.encode(), PAGE_TOKEN.encode(), hashlib.sha256).hexdigest()
    assert graph.requests[-1].args["appsecret_proof"] == expected


@pytest.mark.parametrize(
    "error,retryable,words",
    [
        ("token_expired", False, "token is invalid"),
        ("token_invalid", False, "token is invalid"),
        ("permission", False, "leads_retrieval"),
        ("rate_app", True, "rate limited"),
        ("rate_user", True, "rate limited"),
        ("rate_page", True, "rate limited"),
        ("rate_calls", True, "rate limited"),
        ("unavailable", True, "unavailable"),
        ("server_error", True, "unavailable"),
    ],
)
def test_fetch_graph_error_table(graph, session, error, retryable, words):
    """Token and permission errors are permanent; rate limits and 5xx are retried."""
    graph.fail_next(error)
    with pytest.raises(FetchError) as info:
        FACEBOOK.fetch(source(api_base_url=graph.url), parsed_record(), session)
    assert info.value.retryable is retryable
    assert words in str(info.value)
    assert PAGE_TOKEN not in str(info.value)


def test_fetch_wrong_token_is_permanent(graph, session):
    """A token the Graph does not know (code 190) is not retried."""
    with pytest.raises(FetchError) as info:
        FACEBOOK.fetch(source(api_base_url=graph.url, page_access_token="revoked"), parsed_record(), session)
    assert not info.value.retryable and "token is invalid" in str(info.value)


def test_fetch_unknown_lead_is_permanent(graph, session):
    """Code 100 / subcode 33 (no such lead) is not retried."""
    record = Record(None, {"page_id": "1"}, fetch={"object": "lead", "id": "999999"})
    with pytest.raises(FetchError) as info:
        FACEBOOK.fetch(source(api_base_url=graph.url), record, session)
    assert not info.value.retryable


def test_fetch_after_transient_error_succeeds(graph, session):
    """A retry after a 5xx reads the lead."""
    graph.fail_next("unavailable")
    with pytest.raises(FetchError):
        FACEBOOK.fetch(source(api_base_url=graph.url), parsed_record(), session)
    assert FACEBOOK.fetch(source(api_base_url=graph.url), parsed_record(), session).fields["email"]


def test_fetch_server_down_is_retryable(graph, session):
    """Connection refused (Graph unreachable) is retried."""
    url = graph.url
    graph.server.stop()
    with pytest.raises(FetchError) as info:
        FACEBOOK.fetch(source(api_base_url=url), parsed_record(), session)
    assert info.value.retryable


@pytest.mark.parametrize("fetch", [{"object": "lead", "id": "../me"}, {"object": "lead"}, None])
def test_fetch_refuses_bad_ids(session, fetch):
    """Only numeric leadgen ids are fetched (no path tricks against the Graph host)."""
    with pytest.raises(FetchError) as info:
        FACEBOOK.fetch(source(api_base_url="http://127.0.0.1:9"), Record(None, {}, fetch=fetch), session)
    assert not info.value.retryable


def test_type_declares_retries_and_rate():
    """Meta wants a 200 (2xx answers) and the fetch pool paces Graph calls."""
    assert FACEBOOK.retries is True
    count, window = FACEBOOK.fetch_rate
    assert count > 0 and window > 0
