"""Tests for handlers/generic.py: hmac and Standard Webhooks auth, JSON/form/multipart bodies, keys."""

import base64
import hashlib
import hmac

import pytest

from handlers.auth import Secrets
from handlers.base import AuthFailure, Malformed, SourceSettings, type_of
from handlers.generic import GenericOptions
from tests.builders import inbound as build_inbound

GENERIC = type_of("generic")
BODY = b'{"id": "L-1", "phone": "303-555-0142"}'
NOW = 1768496645.123


def inbound(body=BODY, headers=None, content_type="application/json"):
    """Build an Inbound as the intake would."""
    return build_inbound(body, url="https://leads.example.com/webhooks/dev", headers=headers, content_type=content_type)


def source(**options):
    """A generic source with the given type options."""
    for scheme in options.values():  # secrets loaded as the config file would (one or a list → a list)
        if isinstance(scheme, dict) and "secret" in scheme:
            scheme["secret"] = Secrets().deserialize(scheme["secret"])
    return SourceSettings(name="dev", type="generic", options=options)


def reason_of(src, request):
    """Run verify; return the failure reason or None when it passes."""
    try:
        GENERIC.verify(src, request, NOW)
    except AuthFailure as failure:
        return failure.reason
    return None


# --- hmac: -------------------------------------------------------------------------------


def mac(body, secret="gf-secret", algorithm="sha256", encoding="hex"):
    """An independent HMAC computation for the tests."""
    digest = hmac.new(secret.encode(), body, getattr(hashlib, algorithm)).digest()
    return digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()


def hmac_source(secret="gf-secret", algorithm="sha256", encoding="hex", prefix="sha256="):
    """A source configured like Google Forms' X-Form-Signature (or a variant)."""
    return source(
        hmac={
            "header": "X-Form-Signature",
            "secret": secret,
            "algorithm": algorithm,
            "encoding": encoding,
            "prefix": prefix,
        }
    )


@pytest.mark.parametrize(
    "algorithm,encoding,prefix",
    [
        ("sha256", "hex", "sha256="),
        ("sha256", "base64", ""),
        ("sha1", "hex", "sha1="),
        ("sha512", "base64", "v1="),
    ],
)
def test_hmac_known_answers(algorithm, encoding, prefix):
    """Each algorithm and encoding verifies its own correct value."""
    given = prefix + mac(BODY, algorithm=algorithm, encoding=encoding)
    src = hmac_source(algorithm=algorithm, encoding=encoding, prefix=prefix)
    assert reason_of(src, inbound(headers={"X-Form-Signature": given})) is None


GOOD = "sha256=" + mac(BODY)


@pytest.mark.parametrize(
    "src,request_,reason",
    [
        (hmac_source(secret="other"), inbound(headers={"X-Form-Signature": GOOD}), "invalid_signature"),
        (hmac_source(), inbound(BODY + b" ", {"X-Form-Signature": GOOD}), "invalid_signature"),
        (hmac_source(), inbound(), "missing_signature"),
        (hmac_source(), inbound(headers={"X-Other": GOOD}), "missing_signature"),
        (hmac_source(), inbound(headers={"X-Form-Signature": "sha1=" + mac(BODY)}), "invalid_signature"),
        (hmac_source(), inbound(headers={"X-Form-Signature": mac(BODY)}), "invalid_signature"),
        (hmac_source(encoding="base64"), inbound(headers={"X-Form-Signature": GOOD}), "invalid_signature"),
        (hmac_source(secret=["old", "gf-secret"]), inbound(headers={"X-Form-Signature": GOOD}), None),
        (hmac_source(secret=["old", "older"]), inbound(headers={"X-Form-Signature": GOOD}), "invalid_signature"),
        (hmac_source(), inbound(headers={"x-form-signature": GOOD.upper().replace("SHA256=", "sha256=")}), None),
    ],
    ids=[
        "wrong-secret",
        "tampered-body",
        "missing-header",
        "other-header",
        "wrong-prefix",
        "no-prefix",
        "wrong-encoding",
        "rotated-second-matches",
        "rotated-none-match",
        "uppercase-hex",
    ],
)
def test_hmac_failure_table(src, request_, reason):
    """Each way an hmac: signature can be wrong gives its reason."""
    assert reason_of(src, request_) == reason


# --- standard_webhooks: -----------------------------------------------------------------

SW_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SW_BODY = b'{"test": 2432232314}'


def sw_sign(body, msg_id, ts, secret=SW_SECRET):
    """The Standard Webhooks signature, computed from the spec, not the library."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return "v1," + base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()


def sw_request(body=SW_BODY, msg_id="msg_p5jXN8AQM9LWM0D4loKWxJek", ts=1614265330, signature=None, drop=()):
    """A Standard Webhooks request, signed unless told otherwise."""
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(ts),
        "webhook-signature": signature or sw_sign(body, msg_id, ts),
    }
    return inbound(body, {k: v for k, v in headers.items() if k not in drop})


def test_standard_webhooks_spec_vector():
    """The Standard Webhooks reference example verifies (clock frozen at its timestamp)."""
    expected = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert sw_sign(SW_BODY, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330) == expected
    src = source(standard_webhooks={"secret": SW_SECRET})
    GENERIC.verify(src, sw_request(signature=expected), 1614265330.0)


TS = int(NOW)
SW = source(standard_webhooks={"secret": SW_SECRET})


@pytest.mark.parametrize(
    "src,request_,reason",
    [
        (SW, sw_request(ts=TS), None),
        (
            SW,
            sw_request(ts=TS, signature="v1,bogus v1," + sw_sign(SW_BODY, "msg_p5jXN8AQM9LWM0D4loKWxJek", TS)[3:]),
            None,
        ),
        (
            source(standard_webhooks={"secret": "whsec_" + base64.b64encode(b"another").decode()}),
            sw_request(ts=TS),
            "invalid_signature",
        ),
        (SW, sw_request(ts=TS, signature=sw_sign(b"{}", "msg_p5jXN8AQM9LWM0D4loKWxJek", TS)), "invalid_signature"),
        (SW, sw_request(ts=TS - 301), "stale_timestamp"),
        (SW, sw_request(ts=TS + 301), "stale_timestamp"),
        (SW, sw_request(ts=TS, drop=("webhook-signature",)), "missing_signature"),
        (SW, sw_request(ts=TS, drop=("webhook-id",)), "missing_signature"),
        (SW, sw_request(ts=TS, drop=("webhook-timestamp",)), "missing_signature"),
        (
            SW,
            sw_request(ts=TS, signature="v2," + sw_sign(SW_BODY, "msg_p5jXN8AQM9LWM0D4loKWxJek", TS)[3:]),
            "invalid_signature",
        ),
        (SW, sw_request(ts=TS, signature="garbage-without-comma"), "invalid_signature"),
        (source(standard_webhooks={"secret": ["whsec_b2xk", SW_SECRET]}), sw_request(ts=TS), None),
        (
            SW,
            inbound(b"\xff", {"webhook-id": "m", "webhook-timestamp": str(TS), "webhook-signature": "v1,x"}),
            "invalid_signature",
        ),
        (
            SW,
            inbound(SW_BODY, {"webhook-id": "m", "webhook-timestamp": "later", "webhook-signature": "v1,x"}),
            "invalid_signature",
        ),
    ],
    ids=[
        "ok",
        "second-of-several-signatures",
        "wrong-secret",
        "tampered-body",
        "stale",
        "future",
        "missing-signature",
        "missing-id",
        "missing-timestamp",
        "wrong-version-prefix",
        "garbage",
        "rotated-second-matches",
        "non-utf8-body",
        "timestamp-garbage",
    ],
)
def test_standard_webhooks_failure_table(src, request_, reason):
    """Each way a Standard Webhooks request can be wrong gives its reason."""
    assert reason_of(src, request_) == reason


def test_has_own_auth():
    """hmac or standard_webhooks count; token-only sources do not (auth.py checks those)."""
    assert GENERIC.has_own_auth(hmac_source()) and GENERIC.has_own_auth(SW)
    assert not GENERIC.has_own_auth(source())
    assert reason_of(source(), inbound()) == "invalid_signature"


# --- parsing -----------------------------------------------------------------------------


def test_parse_json_object_and_array():
    """An object is one record; an array of objects, one each."""
    [one] = GENERIC.parse(source(), inbound(b'{"id": 1, "lead": {"phone": "3035550142"}}'))
    assert one.get("lead.phone") == "3035550142" and one.key is None
    many = GENERIC.parse(source(), inbound(b'[{"id": 1}, {"id": 2}]'))
    assert [r.fields["id"] for r in many] == [1, 2]


@pytest.mark.parametrize(
    "body,ctype",
    [
        (b"{", "application/json"),
        (b"[]", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"x"', "application/json"),
        (b"<xml/>", "application/xml"),
        (b"--B\r\nbad", "multipart/form-data; boundary=B"),
    ],
)
def test_parse_malformed(body, ctype):
    """Broken JSON, empty arrays, non-objects, unsupported types and broken multipart."""
    with pytest.raises(Malformed):
        GENERIC.parse(source(), inbound(body, content_type=ctype))


def test_parse_urlencoded_repeated_keys():
    """Form keys → values; a repeated key → a list; UTF-8 and + decoding."""
    body = b"name=J%C3%BCrgen+M%C3%BCller&phone=303-555-0142&phone=720-555-0117&zip=02139"
    [record] = GENERIC.parse(source(), inbound(body, content_type="application/x-www-form-urlencoded; charset=utf-8"))
    assert record.fields == {"name": "Jürgen Müller", "phone": ["303-555-0142", "720-555-0117"], "zip": "02139"}


def test_parse_multipart_skips_files():
    """Multipart text parts become fields; uploads are not lead data."""
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="q3_name"\r\n\r\nAda Example\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="phone"\r\n\r\n(303) 555-0142\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="cv"; filename="cv.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--XyZ--\r\n"
    )
    [record] = GENERIC.parse(source(), inbound(body, content_type="multipart/form-data; boundary=XyZ"))
    assert record.fields == {"q3_name": "Ada Example", "phone": "(303) 555-0142"}


def test_parse_json_without_content_type():
    """Senders that omit Content-Type but send JSON are read as JSON."""
    assert GENERIC.parse(source(), inbound(b'{"id": 3}', content_type=""))[0].fields == {"id": 3}


@pytest.mark.parametrize(
    "spec,body,headers,keys",
    [
        ("meta.id", b'{"meta": {"id": 42}}', {}, ["42"]),
        ("meta.id", b'{"meta": {}}', {}, [None]),
        ("header:webhook-id", b'{"a": 1}', {"webhook-id": "msg_1"}, ["msg_1"]),
        ("header:webhook-id", b'[{"a": 1}, {"a": 2}]', {"webhook-id": "msg_1"}, ["msg_1:0", "msg_1:1"]),
        ("header:webhook-id", b'{"a": 1}', {}, [None]),
        ("submissionID", b"submissionID=5", {}, ["5"]),
    ],
)
def test_event_id_option(spec, body, headers, keys):
    """event_id: a dotted path or `header:<Name>`; records of one delivery get distinct keys."""
    ctype = "application/x-www-form-urlencoded" if body.startswith(b"sub") else "application/json"
    records = GENERIC.parse(source(event_id=spec), inbound(body, headers, ctype))
    assert [r.key for r in records] == keys


@pytest.mark.parametrize(
    "options,ok",
    [
        ({"hmac": {"header": "X-Sig", "secret": "s"}}, True),
        (
            {
                "hmac": {
                    "header": "X-Sig",
                    "secret": ["s", "t"],
                    "algorithm": "sha512",
                    "encoding": "base64",
                    "prefix": "v=",
                }
            },
            True,
        ),
        ({"hmac": {"header": "X-Sig", "secret": "s", "algorithm": "md5"}}, False),
        ({"hmac": {"header": "X-Sig", "secret": "s", "encoding": "base32"}}, False),
        ({"hmac": {"secret": "s"}}, False),
        ({"hmac": {"header": "X-Sig", "secret": "s", "unknown": 1}}, False),
        ({"standard_webhooks": {"secret": SW_SECRET}}, True),
        ({"standard_webhooks": {"secret": "whsec_!!!not-base64"}}, False),
        ({"standard_webhooks": {"secret": SW_SECRET}, "hmac": {"header": "X", "secret": "s"}}, False),
        ({"event_id": "header:webhook-id"}, True),
        ({}, True),
    ],
)
def test_options_schema(options, ok):
    """The generic type's own keys are validated at start-up."""
    assert (not GenericOptions().validate(options)) is ok


def test_options_schema_loads_defaults():
    """Loaded hmac options carry their defaults and a secret list."""
    loaded = GenericOptions().load({"hmac": {"header": "X-Sig", "secret": "s"}})
    assert loaded["hmac"] == {
        "header": "X-Sig",
        "secret": ["s"],
        "algorithm": "sha256",
        "encoding": "hex",
        "prefix": "",
    }


def test_multipart_file_parts_are_closed():
    """An upload big enough to spill to a temporary file is closed after parsing, never leaked."""
    import gc
    import warnings

    upload = b"%PDF-1.4\n" + b"x" * (600 * 1024)  # above werkzeug's in-memory size: a real temp file
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="phone"\r\n\r\n(303) 555-0142\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="cv"; filename="cv.pdf"\r\n'
        b"Content-Type: application/pdf\r\n\r\n" + upload + b"\r\n--XyZ--\r\n"
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        [record] = GENERIC.parse(source(), inbound(body, content_type="multipart/form-data; boundary=XyZ"))
        gc.collect()
    assert record.fields == {"phone": "(303) 555-0142"}
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []
