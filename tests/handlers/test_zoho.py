"""Tests for handlers/zoho.py: token in the body/header/query, form and JSON bodies, -None-, long ids, keys."""

import json
from urllib.parse import urlencode

import pytest

from handlers.auth import check_token
from handlers.base import AuthFailure, Malformed, SourceSettings, type_of
from tests.builders import DATA as TEST_DATA
from tests.builders import inbound as build_inbound

DATA = TEST_DATA / "zoho"
BODY = (DATA / "workflow_form_data.txt").read_bytes()
META = json.loads((DATA / "workflow_form_data.meta.json").read_text())
TOKEN = META["auth"]["shared_token"]
ZOHO = type_of("zoho")
FORM = "application/x-www-form-urlencoded;charset=UTF-8"


def inbound(body=BODY, content_type=FORM, headers=None, url=META["url"]):
    """A POST as Zoho sends it."""
    return build_inbound(
        body, url=url, headers={"Content-Type": content_type, **(headers or {})}, content_type=content_type
    )


def source(token_field="token", **options):
    """A Zoho source with the fixture's token."""
    return SourceSettings(name="zoho", type="zoho", options=options, tokens=[TOKEN], token_field=token_field)


def authenticate(src, request):
    """What intake does: the common token check, then the type's own."""
    if check_token(src, request):
        return
    if ZOHO.has_own_auth(src):
        ZOHO.verify(src, request, 0)
        return
    raise AuthFailure("invalid_token")


# --- auth ----------------------------------------------------------------------------


def test_fixture_token_in_form_body():
    """The fixture's `token` form field passes the common check."""
    assert check_token(source(), inbound()) is True


@pytest.mark.parametrize(
    "request_",
    [
        inbound(json.dumps({"id": "1", "token": TOKEN}).encode(), "application/json"),
        inbound(b'{"id": "1"}', "application/json", headers={"X-Leadrelay-Token": TOKEN}),
        inbound(b'{"id": "1"}', "application/json", url=META["url"] + "?token=" + TOKEN),
        inbound(b"<xml/>", "text/xml", headers={"X-Leadrelay-Token": TOKEN}),
        inbound(json.dumps({"token": TOKEN}).encode(), "application/json", url=META["url"] + "?token=stale"),
    ],
)
def test_token_places(request_):
    """JSON body field, header, query: any of them passes."""
    authenticate(source(), request_)


@pytest.mark.parametrize(
    "request_,reason",
    [
        (inbound(BODY.replace(TOKEN.encode(), b"zt_wrong")), "invalid_token"),
        (inbound(BODY.replace(b"&token=" + TOKEN.encode(), b"")), "invalid_token"),
        (inbound(json.dumps({"id": "1", "token": "wrong"}).encode(), "application/json"), "invalid_token"),
        (inbound(json.dumps({"id": "1"}).encode(), "application/json"), "missing_token"),
        (inbound(json.dumps({"id": "1", "token": 12345}).encode(), "application/json"), "invalid_token"),
        (inbound(json.dumps({"id": "1", "token": None}).encode(), "application/json"), "missing_token"),
        (inbound(json.dumps([{"id": "1", "token": TOKEN}]).encode(), "application/json"), "missing_token"),
        (inbound(b"{broken", "application/json"), "missing_token"),
        (inbound(b'{"id": "1"}', "application/json", headers={"X-Leadrelay-Token": "nope"}), "invalid_token"),
    ],
)
def test_token_failures(request_, reason):
    """Failure table: wrong token, missing token, non-JSON body with the token expected inside."""
    with pytest.raises(AuthFailure) as info:
        authenticate(source(), request_)
    assert info.value.reason == reason


def test_own_auth_only_with_a_token_field():
    """Without token_field the common token check is all there is."""
    assert ZOHO.has_own_auth(source()) is True
    assert ZOHO.has_own_auth(source(token_field=None)) is False


# --- parse ---------------------------------------------------------------------------


def test_fixture_record():
    """Parameters by the admin's names, the token removed, no modified time → no key."""
    [record] = ZOHO.parse(source(), inbound())
    assert record.fields["leadId"] == "5725767000001234567"
    assert "token" not in record.fields
    assert record.key is None  # intake hashes it and applies dedupe_window
    assert (record.get("rating"), record.get("leadStatus"), record.get("leadScore")) == ("Hot", "Contacted", "74")


def test_none_and_empty_merge_fields():
    """ "-None-" picklists and empty merge fields become None."""
    body = urlencode({"id": "1", "Lead_Status": "-None-", "Email": "", "Phone": "3035550142", "Rating": " "}).encode()
    [record] = ZOHO.parse(source(), inbound(body))
    assert record.fields["Lead_Status"] is None and record.fields["Email"] is None and record.fields["Rating"] is None


def test_json_long_numeric_id_stays_exact():
    """An unquoted merge field id is kept as its digits, not a float."""
    body = b'{"id": 5725767000001234567, "Rating": 4.50, "Phone": "+44 20 7946 0958", "Lead_Status": "-None-"}'
    [record] = ZOHO.parse(source(token_field=None), inbound(body, "application/json"))
    assert record.fields["id"] == "5725767000001234567" and record.fields["Rating"] == "4.50"
    assert record.fields["Lead_Status"] is None


def test_key_with_modified_time():
    """id + Modified_Time when both are present; a custom id name and modified field are honoured."""
    body = urlencode({"id": "5725767000001234567", "Modified_Time": "2026-01-15T17:04:05+00:00"}).encode()
    assert ZOHO.parse(source(), inbound(body))[0].key == "5725767000001234567:2026-01-15T17:04:05+00:00"
    src = source(modified_field="changed")
    src.fields = {"externId": "zid"}
    body = urlencode({"zid": "57", "changed": "t1", "id": "other"}).encode()
    assert ZOHO.parse(src, inbound(body))[0].key == "57:t1"


def test_json_array_is_one_record_each():
    """A raw JSON array posts several records; the token field is removed from each."""
    body = json.dumps([{"id": "1", "Phone": "3035550142", "token": TOKEN}, {"id": "2", "Phone": "n/a"}]).encode()
    first, second = ZOHO.parse(source(), inbound(body, "application/json"))
    assert first.fields == {"id": "1", "Phone": "3035550142"} and second.fields["id"] == "2"


def test_custom_token_field_is_removed():
    """Whatever the token parameter is called, it never lands in the record."""
    body = urlencode({"id": "1", "secret_param": TOKEN}).encode()
    [record] = ZOHO.parse(source(token_field="secret_param"), inbound(body))
    assert "secret_param" not in record.fields


def test_unicode_form_values():
    """UTF-8 form values decode."""
    body = urlencode({"id": "1", "First_Name": "Łukasz", "Last_Name": "Żółć"}).encode()
    [record] = ZOHO.parse(source(), inbound(body))
    assert (record.fields["First_Name"], record.fields["Last_Name"]) == ("Łukasz", "Żółć")


@pytest.mark.parametrize(
    "body,content_type,message",
    [
        (b"", "application/json", "empty body"),
        (b"{broken", "application/json", "invalid JSON"),
        (b"<xml/>", "text/xml", "invalid JSON"),
        (b'"text"', "application/json", "JSON object"),
        (b"[1, 2]", "application/json", "JSON object"),
        (b"[]", "application/json", "JSON object"),
    ],
)
def test_parse_malformed(body, content_type, message):
    """Bodies that are neither a form nor JSON objects are Malformed."""
    with pytest.raises(Malformed, match=message):
        ZOHO.parse(source(), inbound(body, content_type))
