"""Tests for handlers/html_form.py: forms, honeypot, rate limits, origin check, client address, answers."""

import json
import threading
from typing import Any
from urllib.parse import urlencode

import pytest

import handlers.html_form as html_form
from handlers.base import AuthFailure, Malformed, RateLimited, SourceSettings, type_of
from handlers.html_form import HtmlFormOptions, KeyedWindows, parse_rate
from tests.builders import DATA as TEST_DATA
from tests.builders import inbound as build_inbound
from tests.builders import source as build_source

DATA = TEST_DATA / "html_form"
BODY = (DATA / "contact_form.txt").read_bytes()
META = json.loads((DATA / "contact_form.meta.json").read_text())
FORM = "application/x-www-form-urlencoded"
HTML = type_of("html_form")


@pytest.fixture(autouse=True)
def fresh_limits(monkeypatch):
    """Every test starts with empty windows and a clock it controls."""
    now = [1000.0]
    monkeypatch.setattr(html_form, "clock", lambda: now[0])
    html_form.reset_limits()
    yield now
    html_form.reset_limits()


def inbound(body=BODY, headers=None, content_type=FORM, remote_addr="198.51.100.7"):
    """Build an Inbound as the intake would (the fixture's browser headers by default)."""
    return build_inbound(
        body,
        url=META["url"],
        headers=headers if headers is not None else META["headers"],
        content_type=content_type,
        remote_addr=remote_addr,
        query={},
    )


def source(name="form", fields=None, **options):
    """An html_form source whose options went through the config schema (defaults applied)."""
    return build_source("html_form", name=name, options=options, fields=fields or {})


def post(fields, src=None, **kwargs):
    """Parse a urlencoded body built from (name, value) pairs; return the one record."""
    [record] = HTML.parse(src or source(), inbound(urlencode(fields).encode(), **kwargs))
    return record


# --- parsing ------------------------------------------------------------------------------


def test_fixture_parses_with_crlf_and_server_id():
    """Known answer: fields as posted (CRLF kept), empty honeypot accepted, key None, a web- id."""
    [record] = HTML.parse(source(), inbound())
    assert record.key is None and record.event is None
    assert record.get("message") == "Please call me\r\nafter 5pm"
    assert record.get("phone") == "(303) 555-0142" and record.get("consent") == "on"
    assert record.get("_id").startswith("web-") and len(record.get("_id")) == 36
    assert "_honeypot" not in record.fields


def test_double_submit_gets_the_same_id_and_different_forms_do_not():
    """The id is a hash of the posted fields: a double-click hashes alike (intake dedupes it)."""
    first = HTML.parse(source(), inbound())[0]
    again = HTML.parse(source(), inbound())[0]
    other = post([("phone", "3035550143")])
    assert first.fields == again.fields and first.get("_id") != other.get("_id")


def test_multipart_and_repeated_names():
    """multipart/form-data is read too; a repeated name is a list (several phones)."""
    boundary = "----leadrelay7"
    parts = [("name", "Zoë Ångström"), ("phone", "+44 20 7946 0958"), ("phone", "303-555-0142 x12")]
    body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{n}"\r\n\r\n{v}\r\n' for n, v in parts)
    body += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="cv"; filename="cv.pdf"\r\n'
        f"Content-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--{boundary}--\r\n"
    )
    [record] = HTML.parse(source(), inbound(body.encode(), content_type=f"multipart/form-data; boundary={boundary}"))
    assert record.get("name") == "Zoë Ångström"
    assert record.get("phone") == ["+44 20 7946 0958", "303-555-0142 x12"]
    assert "cv" not in record.fields  # file parts are skipped


def test_reserved_markers_cannot_be_posted():
    """A posted `_id` or `_honeypot` is discarded: only leadrelay sets them."""
    record = post([("phone", "3035550142"), ("_id", "mine"), ("_honeypot", "")])
    assert record.get("_id").startswith("web-") and "_honeypot" not in record.fields


@pytest.mark.parametrize(
    "body,content_type",
    [
        (b'{"phone": "3035550142"}', "application/json"),
        (b"phone=1", "text/plain"),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
    ],
    ids=["json", "text", "broken-multipart"],
)
def test_not_a_form_is_malformed(body, content_type):
    """Only urlencoded and multipart forms are accepted."""
    with pytest.raises(Malformed):
        HTML.parse(source(), inbound(body, content_type=content_type))


# --- honeypot -----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["http://spam.example", " x ", ["", "y"]])
def test_filled_honeypot_is_marked(value):
    """A filled honeypot marks the record (the mapping then refuses it)."""
    pairs = [("phone", "3035550142")] + [("website", v) for v in (value if isinstance(value, list) else [value])]
    assert post(pairs).get("_honeypot") is True


@pytest.mark.parametrize("value", ["", "   "])
def test_blank_honeypot_is_not_spam(value):
    """Empty (or whitespace, as some autofill writes) is a person."""
    assert "_honeypot" not in post([("phone", "3035550142"), ("website", value)]).fields


def test_honeypot_name_and_off():
    """`honeypot: <name>` picks the field; `honeypot: false` turns the check off."""
    pairs = [("phone", "3035550142"), ("website", "x"), ("hp_url", "y")]
    assert post(pairs, src=source(honeypot="hp_url")).get("_honeypot") is True
    assert "_honeypot" not in post(pairs, src=source(honeypot=False)).fields


def test_default_honeypot_without_schema():
    """Settings built without the schema still get the default honeypot and limits."""
    src = SourceSettings(name="bare", type="html_form")
    assert post([("phone", "3035550142"), ("website", "x")], src=src).get("_honeypot") is True


# --- rate limits --------------------------------------------------------------------------


def test_per_ip_limit_and_window_slides(fresh_limits):
    """10 per 10 minutes per address by default; the 11th is refused; the window slides."""
    src = source(rate_limit={"per_phone": False})
    for i in range(10):
        post([("phone", f"30355501{i:02d}")], src=src)
    with pytest.raises(RateLimited):
        post([("phone", "3035550199")], src=src)
    post([("phone", "3035550199")], src=src, remote_addr="198.51.100.8")  # another address is fine
    fresh_limits[0] += 601
    post([("phone", "3035550199")], src=src)


def test_per_phone_limit_across_addresses_and_formats():
    """3 per hour per number by default, whatever address or spelling it comes from."""
    src = source()
    for i, spelling in enumerate(["(303) 555-0142", "+1 303 555 0142", "303.555.0142"]):
        post([("phone", spelling)], src=src, remote_addr=f"203.0.113.{i}")
    with pytest.raises(RateLimited):
        post([("tel", "3035550142")], src=src, remote_addr="203.0.113.50")
    post([("phone", "3035550143")], src=src, remote_addr="203.0.113.51")


def test_per_phone_uses_the_sources_field_map():
    """With `fields: {leadPhone: contact_number}` that field is the one limited."""
    src = source(fields={"leadPhone": "contact_number"}, rate_limit={"per_ip": False, "per_phone": "1/1h"})
    post([("contact_number", "3035550142")], src=src)
    with pytest.raises(RateLimited):
        post([("contact_number", "3035550142")], src=src)


def test_honeypot_hits_do_not_use_up_the_phone_limit():
    """A bot filling the honeypot with a real person's number cannot lock that person out."""
    src = source(rate_limit={"per_ip": False, "per_phone": "1/1h"})
    for _ in range(3):
        post([("phone", "3035550142"), ("website", "spam")], src=src)
    assert "_honeypot" not in post([("phone", "3035550142")], src=src).fields


def test_limits_off_and_separate_per_source():
    """`rate_limit: false` turns both off; each source has its own windows."""
    off = source(name="open", rate_limit=False)
    for _ in range(20):
        post([("phone", "3035550142")], src=off)
    limited = source(name="strict", rate_limit={"per_ip": "1/1m", "per_phone": False})
    post([("phone", "1")], src=limited)
    with pytest.raises(RateLimited):
        post([("phone", "1")], src=limited)
    post([("phone", "1")], src=source(name="other", rate_limit={"per_ip": "1/1m", "per_phone": False}))


def test_ipv6_limited_per_slash_64():
    """Addresses of one /64 share a window; an IPv4-mapped address counts as IPv4."""
    src = source(rate_limit={"per_ip": "2/1m", "per_phone": False})
    post([("a", "1")], src=src, remote_addr="2001:db8:1:2::1")
    post([("a", "2")], src=src, remote_addr="2001:db8:1:2:ffff::9")
    with pytest.raises(RateLimited):
        post([("a", "3")], src=src, remote_addr="2001:db8:1:2::77")
    post([("a", "4")], src=src, remote_addr="2001:db8:1:3::1")
    assert html_form.ip_bucket("::ffff:198.51.100.7") == "198.51.100.7"


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("10/10m", (10, 600.0)),
        ("3/1h", (3, 3600.0)),
        ("5/m", (5, 60.0)),
        ("100/1d", (100, 86400.0)),
        ("7/90", (7, 90.0)),
        (" 2 / 30s ", (2, 30.0)),
    ],
)
def test_parse_rate(spec, expected):
    """Rates are count / duration."""
    assert parse_rate(spec) == expected


@pytest.mark.parametrize("spec", ["10", "ten/1m", "0/1m", "5/0m", "5/1w", ""])
def test_parse_rate_refuses(spec):
    """Bad rates are refused at start-up."""
    with pytest.raises(ValueError):
        parse_rate(spec)


def test_sliding_window_is_thread_safe():
    """Many threads hitting one key: exactly `limit` get through."""
    window = KeyedWindows(limit=50, window=60)
    allowed = []

    def hit():
        """Hit the shared key a few times."""
        for _ in range(20):
            allowed.append(window.hit("k", 1.0))

    threads = [threading.Thread(target=hit) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == 50


def test_sliding_window_bounds_its_keys(monkeypatch):
    """Sprayed addresses cannot grow memory without bound."""
    monkeypatch.setattr(KeyedWindows, "MAX_KEYS", 100)
    window = KeyedWindows(limit=1, window=60)
    for i in range(1000):
        window.hit(f"10.0.{i // 256}.{i % 256}", 1000.0)
    assert len(window.hits) <= 100


# --- client address -----------------------------------------------------------------------


def test_forwarded_for_only_when_trusted_and_last_hop():
    """X-Forwarded-For is ignored unless trusted; then its LAST hop (the router's) is used."""
    headers = {**META["headers"], "X-Forwarded-For": "1.1.1.1, 203.0.113.9"}
    request = inbound(headers=headers, remote_addr="10.1.2.3")
    assert html_form.client_ip(source(), request) == "10.1.2.3"
    assert html_form.client_ip(source(trust_forwarded_for=True), request) == "203.0.113.9"
    assert html_form.client_ip(source(trust_forwarded_for=True), inbound(remote_addr="10.1.2.3")) == "10.1.2.3"


def test_forged_forwarded_for_cannot_dodge_the_limit():
    """A client rotating the leftmost X-Forwarded-For hops is still one address."""
    src = source(trust_forwarded_for=True, rate_limit={"per_ip": "2/1m", "per_phone": False})
    for i in range(2):
        post([("a", str(i))], src=src, headers={"X-Forwarded-For": f"9.9.9.{i}, 203.0.113.9"})
    with pytest.raises(RateLimited):
        post([("a", "x")], src=src, headers={"X-Forwarded-For": "9.9.9.99, 203.0.113.9"})


# --- origin check -------------------------------------------------------------------------


def reason_of(src, request):
    """Run verify; the failure reason, or None when it passes."""
    try:
        HTML.verify(src, request, 0)
    except AuthFailure as failure:
        return failure.reason
    return None


ORIGINS = source(allowed_origins=["https://www.example.com", "example.org", "*.example.net"])


@pytest.mark.parametrize(
    "headers,reason",
    [
        (META["headers"], None),
        ({"Origin": "https://WWW.EXAMPLE.COM"}, None),
        ({"Origin": "http://www.example.com"}, "origin_not_allowed"),
        ({"Origin": "https://example.org:8443"}, None),
        ({"Origin": "https://shop.example.net"}, None),
        ({"Origin": "https://example.net"}, "origin_not_allowed"),
        ({"Origin": "https://www.example.com.evil.test"}, "origin_not_allowed"),
        ({"Origin": "https://evilexample.org"}, "origin_not_allowed"),
        ({"Origin": "null", "Referer": "https://example.org/contact"}, None),
        ({"Referer": "https://www.example.com/contact?x=1"}, None),
        ({"Origin": "https://evil.test", "Referer": "https://www.example.com/"}, "origin_not_allowed"),
        ({}, "origin_not_allowed"),
        ({"Origin": "null"}, "origin_not_allowed"),
    ],
    ids=[
        "fixture",
        "case",
        "scheme",
        "port",
        "wildcard",
        "wildcard-apex",
        "suffix-trick",
        "prefix-trick",
        "null-origin-referer",
        "referer-only",
        "origin-wins",
        "none",
        "null-only",
    ],
)
def test_allowed_origins(headers, reason):
    """The Origin (else Referer) host must be listed; entries are origins, hosts or *.domain."""
    assert reason_of(ORIGINS, inbound(headers=headers)) == reason


def test_origin_check_is_opt_in():
    """Without allowed_origins the type has no own scheme (and verify is never called)."""
    assert HTML.has_own_auth(source()) is False and HTML.has_own_auth(ORIGINS) is True


def test_options_schema_refuses_bad_values():
    """Bad redirect URLs, rates, honeypots and origins fail at start-up."""
    from marshmallow import ValidationError

    bad: dict[str, Any]
    for bad in (
        {"redirect_url": "javascript:alert(1)"},
        {"redirect_url": "/thanks"},
        {"rate_limit": {"per_ip": "x"}},
        {"honeypot": ""},
        {"honeypot": True},
        {"allowed_origins": []},
        {"allowed_origins": ["https://"]},
    ):
        with pytest.raises(ValidationError):
            HtmlFormOptions().load(bad)


# --- answers (the reply hook) -------------------------------------------------------------


def reply(status, body, src=None, headers=None):
    """Run the reply hook as intake does."""
    return HTML.reply(src or source(), inbound(headers=headers), status, body)


def test_success_redirects_303_or_thanks_page():
    """202 and 200-duplicate → 303 to redirect_url; without one a UTF-8 thank-you page."""
    src = source(redirect_url="https://www.example.com/thanks?from=form")
    for status, body in ((202, {"event_id": 1, "leads": []}), (200, {"event_id": 1, "duplicate": True})):
        answer = reply(status, body, src)
        assert answer.status == 303 and answer.headers["Location"] == "https://www.example.com/thanks?from=form"
    page = reply(202, {"event_id": 1, "leads": []})
    assert page.status == 200 and page.content_type == "text/html; charset=utf-8"
    assert "Thank you" in page.body and '<meta charset="utf-8">' in page.body


def test_thank_you_message_is_escaped():
    """The configured message is text, never markup."""
    page = reply(202, {"leads": []}, source(thank_you_message="Merci <b>Zoë</b> & co"))
    assert "Merci &lt;b&gt;Zoë&lt;/b&gt; &amp; co" in page.body and "<b>" not in page.body


def test_invalid_answers_a_page_saying_what_is_wrong():
    """422 → an HTML page naming the problem in words, no internals, with a back link."""
    body = {
        "error": "unmappable",
        "event_id": 9,
        "records": [
            {"externId": "web-1", "reasons": {"leadPhone": ["no dialable phone number in phone, tel, mobile"]}}
        ],
    }
    page = reply(422, body)
    assert page.status == 422 and "phone number" in page.body
    assert "tel, mobile" not in page.body and "web-1" not in page.body and "event" not in page.body
    assert 'href="https://www.example.com/contact"' in page.body


def test_honeypot_answer_looks_like_success():
    """A bot gets exactly the success answer."""
    body = {"error": "unmappable", "records": [{"externId": None, "reasons": {"honeypot": ["spam"]}}]}
    src = source(redirect_url="https://www.example.com/thanks")
    assert reply(422, body, src).status == 303
    assert reply(422, body).body == reply(202, {"leads": []}).body


@pytest.mark.parametrize("status,title", [(400, "could not be read"), (429, "wait"), (401, "cannot be sent")])
def test_error_pages(status, title):
    """Malformed, rate-limited and refused requests get small pages (429 with Retry-After)."""
    page = reply(status, {"error": "x", "detail": "internal detail"})
    assert page.status == status and title in page.body and "internal detail" not in page.body
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    if status == 429:
        assert page.headers["Retry-After"] == "60"


def test_back_link_only_for_http_referers():
    """A javascript: Referer never becomes a link; quotes are escaped."""
    body = {"records": [{"reasons": {"leadPhone": ["x"]}}]}
    assert "href" not in reply(422, body, headers={"Referer": "javascript:alert(1)"}).body
    page = reply(422, body, headers={"Referer": 'https://www.example.com/a"onmouseover="x'})
    assert 'a"onmouseover' not in page.body and "&quot;" in page.body


def test_other_statuses_keep_the_json():
    """Anything else (e.g. a 500) is left to intake."""
    assert reply(500, {"error": "x"}) is None
