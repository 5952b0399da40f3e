"""Tests for handlers/auth.py: the shared token check and the HMAC/timestamp helpers."""

import pytest
from marshmallow import ValidationError

from handlers.auth import Secrets, check_timestamp, check_token, verify_hmac
from handlers.base import AuthFailure, SourceSettings
from tests.builders import inbound as build_inbound


def inbound(body=b"", headers=None, url="https://leads.example.com/webhooks/x", content_type=""):
    """Build an Inbound as the intake would."""
    return build_inbound(body, url=url, headers=headers, content_type=content_type)


def source(tokens=(), token_field=None):
    """A source with only token settings."""
    return SourceSettings(name="s", type="generic", tokens=list(tokens), token_field=token_field)


MULTIPART = (
    b'--B\r\nContent-Disposition: form-data; name="api_token"\r\n\r\ns3cret\r\n'
    b'--B\r\nContent-Disposition: form-data; name="phone"\r\n\r\n3035550142\r\n--B--\r\n'
)


def test_no_tokens_configured_is_none():
    """A source without `token:` does not decide anything."""
    assert check_token(source(), inbound(headers={"X-Leadrelay-Token": "x"})) is None


@pytest.mark.parametrize(
    "request_",
    [
        inbound(headers={"x-leadrelay-token": "s3cret"}),
        inbound(url="https://h/webhooks/x?token=s3cret"),
        inbound(url="https://h/webhooks/x?a=1&token=s3cret&b=2"),
    ],
)
def test_token_from_header_or_query(request_):
    """Header (any case) and query parameter both carry the token."""
    assert check_token(source(["s3cret"]), request_) is True


@pytest.mark.parametrize(
    "request_",
    [
        inbound(),
        inbound(headers={"X-Leadrelay-Token": "wrong"}),
        inbound(url="https://h/webhooks/x?token="),
        inbound(headers={"X-Leadrelay-Token": "s3cre"}),
        inbound(body=b"api_token=s3cret", content_type="application/x-www-form-urlencoded"),
    ],
)
def test_token_rejected(request_):
    """Missing, wrong, truncated tokens fail; a form field counts only with token_field."""
    assert check_token(source(["s3cret"]), request_) is False


def test_rotated_tokens_any_matches():
    """With two tokens configured, the second one is accepted."""
    assert check_token(source(["old", "new"]), inbound(headers={"X-Leadrelay-Token": "new"})) is True


@pytest.mark.parametrize(
    "body,ctype,expected",
    [
        (b"api_token=s3cret&phone=3035550142", "application/x-www-form-urlencoded", True),
        (b"api_token=nope", "application/x-www-form-urlencoded", False),
        (b"api_token=s3cret&api_token=s3cret", "application/x-www-form-urlencoded", False),
        (MULTIPART, "multipart/form-data; boundary=B", True),
        (b"--B\r\nbroken", "multipart/form-data; boundary=B", False),
        (b'{"api_token": "s3cret"}', "application/json", False),
    ],
)
def test_token_field_in_form_body(body, ctype, expected):
    """token_field reads urlencoded and multipart bodies; repeated or unreadable → no token."""
    request_ = inbound(body=body, content_type=ctype)
    assert check_token(source(["s3cret"], token_field="api_token"), request_) is expected


@pytest.mark.parametrize(
    "algorithm,encoding,prefix,given",
    [
        ("sha256", "hex", "", "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"),
        ("sha256", "hex", "", "F7BC83F430538424B13298E6AA6FB143EF4D59A14946175997479DBC2D1A3CD8"),
        ("sha256", "base64", "sha256=", "sha256=97yD9DBThCSxMpjmqm+xQ+9NWaFJRhdZl0edvC0aPNg="),
        ("sha1", "hex", "sha1=", "sha1=de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"),
        (
            "sha512",
            "hex",
            "",
            "b42af09057bac1e2d41708e48a902e09b5ff7f12ab428a4fe86653c73dd248fb"
            "82f948a549f7b791a5b41915ee4d1ec3935357e4e2317250d0372afa2ebeeb3a",
        ),
    ],
)
def test_verify_hmac_known_answers(algorithm, encoding, prefix, given):
    """RFC-style vector: key "key", message "The quick brown fox jumps over the lazy dog"."""
    message = b"The quick brown fox jumps over the lazy dog"
    assert verify_hmac("key", message, given, algorithm, encoding, prefix)


@pytest.mark.parametrize(
    "given,prefix",
    [
        (None, ""),
        ("", ""),
        ("sha256=f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8", "sha1="),
        ("f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd9", ""),
    ],
)
def test_verify_hmac_rejects(given, prefix):
    """Missing, wrong prefix or a flipped digit are refused."""
    assert not verify_hmac("key", b"The quick brown fox jumps over the lazy dog", given, "sha256", "hex", prefix)


def test_verify_hmac_unknown_algorithm():
    """Only the configured set of algorithms is allowed (md5 is not)."""
    with pytest.raises(ValueError):
        verify_hmac("key", b"x", "00", "md5")


@pytest.mark.parametrize("offset", [-301, 301, 10_000])
def test_check_timestamp_rejects_past_and_future(offset):
    """Both stale and future timestamps beyond 5 minutes fail."""
    with pytest.raises(AuthFailure) as info:
        check_timestamp(1_000_000 + offset, 1_000_000)
    assert info.value.reason == "stale_timestamp"


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_check_timestamp_accepts_window(offset):
    """Exactly 5 minutes either way is still accepted."""
    check_timestamp(1_000_000 + offset, 1_000_000)


def test_secrets_field():
    """The one secrets type: one string or a list, loaded as a list; empties and non-strings refused."""
    field = Secrets()
    assert field.deserialize("a") == ["a"] and field.deserialize(["a", "b"]) == ["a", "b"]
    for bad in ("", [], ["a", ""], [None], 12345, True, {"a": 1}):
        with pytest.raises(ValidationError):
            field.deserialize(bad)
