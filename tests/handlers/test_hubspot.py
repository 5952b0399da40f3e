"""Tests for handlers/hubspot.py: v1/v2/v3 signatures, the URI table, and the body shapes."""

import json

import pytest

from handlers.auth import Secrets
from handlers.base import AuthFailure, Malformed, SourceSettings, type_of
from handlers.hubspot import HubSpotOptions, v1_signature, v2_signature, v3_signature, v3_uri
from tests.builders import DATA as TEST_DATA
from tests.builders import inbound as build_inbound

DATA = TEST_DATA / "hubspot"
NOW = 1768496645.123  # the fixtures' X-HubSpot-Request-Timestamp, in seconds
SECRET = "8e2b4b4c-1f7a-4c3e-9d2a-5b6f7e8d9c0a"
DOC_SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
# HubSpot's v1 request-validation example body (its hash below confirms it byte for byte).
DOC_V1_BODY = (
    b'[{"eventId":1,"subscriptionId":12345,"portalId":62515,"occurredAt":1564113600000,'
    b'"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,'
    b'"changeSource":"CRM","changeFlag":"NEW","appId":54321}]'
)
HUBSPOT = type_of("hubspot")
V3_HEADERS = ("X-HubSpot-Signature-v3", "X-HubSpot-Request-Timestamp")


def inbound(body=b"", headers=None, url="https://leads.example.com/webhooks/hubspot", method="POST"):
    """Build an Inbound as the intake would."""
    return build_inbound(body, url=url, headers=headers, content_type="application/json", method=method)


def fixture(name, drop=(), **changes):
    """A fixture request, optionally without some headers or with other values."""
    meta = json.loads((DATA / f"{name}.meta.json").read_text())
    headers = {k: v for k, v in meta["headers"].items() if k not in drop}
    body = (DATA / name).with_suffix(".json").read_bytes()
    return inbound(
        changes.get("body", body),
        {**headers, **changes.get("headers", {})},
        changes.get("url", meta["url"]),
        changes.get("method", meta["method"]),
    )


def source(secret=SECRET, legacy=True):
    """A HubSpot source with one client secret or several.

    `legacy_signatures` is on so the v1/v2 vectors below can verify; the default (v3 required) is
    tested through intake in tests/security/test_auth_rules.py and by test_v3_is_required_by_default.
    """
    options = {} if secret is None else {"client_secret": Secrets().deserialize(secret)}
    if secret is not None:
        options["legacy_signatures"] = legacy
    return SourceSettings(name="hubspot", type="hubspot", options=options)


# --- known answers -------------------------------------------------------------------


def test_doc_vector_v1():
    """HubSpot's documented v1 example."""
    assert v1_signature(DOC_SECRET, DOC_V1_BODY) == "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de"


def test_doc_vector_v2():
    """HubSpot's documented v2 example: GET with no body."""
    expected = "eee2dddcc73c94d699f5e395f4b9d454a069a6855fbfa152e91e88823087200e"
    assert v2_signature(DOC_SECRET, "GET", "https://www.example.com/webhook_uri", b"") == expected
    request = inbound(
        b"",
        {"X-HubSpot-Signature": expected, "X-HubSpot-Signature-Version": "v2"},
        "https://www.example.com/webhook_uri",
        "GET",
    )
    HUBSPOT.verify(source(DOC_SECRET), request, NOW)


def test_doc_vector_v1_through_verify():
    """The v1 doc vector passes verify() with the version header."""
    request = inbound(
        DOC_V1_BODY,
        {
            "X-HubSpot-Signature": "232db2615f3d666fe21a8ec971ac7b5402d33b9a925784df3ca654d05f4817de",
            "X-HubSpot-Signature-Version": "v1",
        },
    )
    HUBSPOT.verify(source(DOC_SECRET), request, NOW)


@pytest.mark.parametrize(
    "name,drop",
    [
        ("workflow_contact_all_properties", ()),  # v3 preferred
        ("workflow_contact_all_properties", V3_HEADERS),  # v2
        ("webhooks_api_batch", ()),  # v3
        ("webhooks_api_batch", V3_HEADERS),  # v1
    ],
)
def test_fixture_signatures(name, drop):
    """Every fixture signature verifies with the clock frozen at its timestamp."""
    HUBSPOT.verify(source(), fixture(name, drop), NOW)


def test_fixture_v3_value_and_uri_decoding():
    """The v3 value is computed over the URI with %3A decoded."""
    meta = json.loads((DATA / "workflow_contact_all_properties.meta.json").read_text())
    body = (DATA / "workflow_contact_all_properties.json").read_bytes()
    v3 = meta["signature"]["v3"]
    assert v3_uri(meta["url"]) == v3["uri_used_for_signing"]
    assert v3_signature(SECRET, "POST", meta["url"], body, v3["timestamp"]) == v3["value"]


@pytest.mark.parametrize(
    "raw,signed",
    [
        ("https://h/p?a=%3a%2F%3F%40%21%24%27%28%29%2A%2C%3B", "https://h/p?a=:/?@!$'()*,;"),
        ("https://h/p?q=a%20b%26c%3Dd%25e%2B", "https://h/p?q=a%20b%26c%3Dd%25e%2B"),  # stay encoded
        ("https://h/a%2fb?x=%3A%3", "https://h/a/b?x=:%3"),  # case-insensitive; a truncated escape stays
    ],
)
def test_v3_uri_table(raw, signed):
    """Only the documented escapes are decoded."""
    assert v3_uri(raw) == signed


# --- failures ------------------------------------------------------------------------


def _fail(request, src=None):
    """Run verify and return the failure reason."""
    with pytest.raises(AuthFailure) as info:
        HUBSPOT.verify(src or source(), request, NOW)
    return info.value.reason


WF = "workflow_contact_all_properties"


@pytest.mark.parametrize(
    "make,reason",
    [
        # v3
        (lambda: fixture(WF), None),
        (lambda: fixture(WF, body=b'{"vid":1}'), "invalid_signature"),
        (lambda: fixture(WF, url="https://leads.example.com/webhooks/hubspot/other"), "invalid_signature"),
        (lambda: fixture(WF, method="PUT"), "invalid_signature"),
        (lambda: fixture(WF, headers={"X-HubSpot-Request-Timestamp": str(1768496645123 - 301_000)}), "stale_timestamp"),
        (lambda: fixture(WF, headers={"X-HubSpot-Request-Timestamp": str(1768496645123 + 301_000)}), "stale_timestamp"),
        (lambda: fixture(WF, headers={"X-HubSpot-Request-Timestamp": "1768496645124"}), "invalid_signature"),
        (lambda: fixture(WF, headers={"X-HubSpot-Request-Timestamp": "soon"}), "invalid_signature"),
        (lambda: fixture(WF, drop=("X-HubSpot-Request-Timestamp",)), "missing_signature"),
        (
            lambda: fixture(WF, headers={"X-HubSpot-Signature-v3": "A7tcQB75n4bftU7ArLEYEhvP5WIjCFyrUz7myQP/wX1="}),
            "invalid_signature",
        ),
        # v2 / v1
        (lambda: fixture(WF, drop=V3_HEADERS, body=b'{"vid":1}'), "invalid_signature"),
        (
            lambda: fixture(
                WF, drop=V3_HEADERS, url="http://leads.example.com/webhooks/hubspot/workflow?list=hot%3Aleads&src=hs"
            ),
            "invalid_signature",
        ),
        (
            lambda: fixture(
                WF, drop=V3_HEADERS, url="https://leads.example.com/webhooks/hubspot/workflow?list=hot:leads&src=hs"
            ),
            "invalid_signature",
        ),
        (lambda: fixture(WF, drop=V3_HEADERS, headers={"X-HubSpot-Signature-Version": "v1"}), "invalid_signature"),
        (lambda: fixture(WF, drop=(*V3_HEADERS, "X-HubSpot-Signature-Version")), None),
        (lambda: fixture("webhooks_api_batch", drop=(*V3_HEADERS, "X-HubSpot-Signature-Version")), None),
        (
            lambda: fixture("webhooks_api_batch", drop=V3_HEADERS, headers={"X-HubSpot-Signature-Version": "v2"}),
            "invalid_signature",
        ),
        (lambda: fixture(WF, drop=(*V3_HEADERS, "X-HubSpot-Signature")), "missing_signature"),
        (lambda: inbound(b"{}"), "missing_signature"),
    ],
    ids=[
        "v3-ok",
        "v3-tampered-body",
        "v3-other-url",
        "v3-other-method",
        "v3-stale",
        "v3-future",
        "v3-ts-not-signed",
        "v3-ts-garbage",
        "v3-no-ts",
        "v3-wrong-sig",
        "v2-tampered-body",
        "v2-other-scheme",
        "v2-decoded-uri",
        "v2-labelled-v1",
        "v2-no-version-ok",
        "v1-no-version-ok",
        "v1-labelled-v2",
        "v2-missing",
        "no-headers",
    ],
)
def test_failure_table(make, reason):
    """Each way a HubSpot signature can be wrong gives its reason; the good cases pass."""
    if reason is None:
        HUBSPOT.verify(source(), make(), NOW)
    else:
        assert _fail(make()) == reason


@pytest.mark.parametrize("drop", [(), V3_HEADERS])
def test_wrong_secret(drop):
    """A different client secret fails both v3 and v2."""
    assert _fail(fixture(WF, drop), source("another-secret")) == "invalid_signature"


@pytest.mark.parametrize("drop", [(), V3_HEADERS])
def test_rotated_secrets(drop):
    """With two secrets configured, the second one matching is enough."""
    HUBSPOT.verify(source(["old-secret", SECRET]), fixture(WF, drop), NOW)


def test_v3_is_required_by_default():
    """Without legacy_signatures a valid v2 signature alone is refused; v3 passes."""
    assert _fail(fixture(WF, V3_HEADERS), source(legacy=False)) == "missing_signature"
    HUBSPOT.verify(source(legacy=False), fixture(WF), NOW)


def test_no_secret_fails_closed():
    """verify() on a source without a secret refuses rather than passing."""
    assert _fail(fixture(WF), source(None)) == "invalid_signature"
    assert not HUBSPOT.has_own_auth(source(None)) and HUBSPOT.has_own_auth(source())


# --- parsing -------------------------------------------------------------------------


def test_parse_legacy_contact_profile():
    """The fixture's properties are flattened name → value next to the top-level keys."""
    [record] = HUBSPOT.parse(source(), fixture(WF))
    assert record.key == "51234567:1768496635123"
    assert record.event is None
    f = record.fields
    assert (f["vid"], f["portal-id"], f["firstname"], f["hubspotscore"]) == (51234567, 4412345, "Ada", "87")
    assert f["phone"] == "(303) 555-0142 ext. 12" and f["lifecyclestage"] == "salesqualifiedlead"
    assert record.get("properties.phone.versions.1.value") == "303-555-0142"  # raw shape still reachable


def test_parse_crm_v3_object():
    """CRM v3 objects: `id` plus plain property values."""
    body = json.dumps(
        {
            "id": "901",
            "properties": {
                "firstname": "Bo",
                "phone": "3035550142",
                "lastmodifieddate": "2026-01-15T17:04:05.123Z",
                "hubspotscore": "90",
            },
            "archived": False,
        }
    ).encode()
    [record] = HUBSPOT.parse(source(), inbound(body))
    assert record.key == "901:2026-01-15T17:04:05.123Z"
    assert record.fields["hubspotscore"] == "90" and record.fields["firstname"] == "Bo"


def test_parse_object_id_without_modified_date_has_no_key():
    """Without lastmodifieddate the intake hashes the record instead."""
    body = b'{"objectId": 77, "properties": {"phone": "3035550142"}}'
    [record] = HUBSPOT.parse(source(), inbound(body))
    assert record.key is None and record.fields["objectId"] == 77


def test_parse_flat_custom_body():
    """A workflow author's own keys are kept as they are."""
    body = b'{"contact_id": "5", "phone_number": "303-555-0142", "score": 91}'
    [record] = HUBSPOT.parse(source(), inbound(body))
    assert record.fields == {"contact_id": "5", "phone_number": "303-555-0142", "score": 91}
    assert record.key is None


@pytest.mark.parametrize(
    "body,message",
    [
        (b"", "empty body"),
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe", "invalid JSON"),
        (b'"a string"', "JSON object"),
        (b"42", "array of events"),
    ],
)
def test_parse_malformed(body, message):
    """Empty, broken and non-object, non-array bodies are Malformed."""
    with pytest.raises(Malformed, match=message):
        HUBSPOT.parse(source(), inbound(body))


@pytest.mark.parametrize(
    "options,ok",
    [
        ({"client_secret": "abc"}, True),
        ({"client_secret": ["abc", "def"]}, True),
        ({}, True),
        ({"client_secret": ""}, False),
        ({"client_secret": []}, False),
        ({"client_secret": ["abc", 5]}, False),
        ({"client_secret": 5}, False),
        ({"secret": "abc"}, False),
    ],
)
def test_options_schema(options, ok):
    """client_secret: a string or a list of strings; nothing else."""
    errors = HubSpotOptions().validate(options)
    assert (not errors) is ok
