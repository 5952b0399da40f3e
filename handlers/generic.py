"""The `generic` type: any JSON, form or multipart sender, mapped entirely by `fields`.

Authenticated by HMAC, Standard Webhooks or the shared token.

Record.fields: the JSON object as sent (nested keys by dotted path), or the form's
`name → value` (a repeated name → list of values; file parts are skipped). A JSON array
gives one record per object. Key: the `event_id` option — a dotted path into the record, or
`header:<Name>` (suffixed `:<index>` for the records of an array) — else None (hash).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from handlers._forms import is_form, mimetype, read_form
from handlers.auth import ALGORITHMS, Secrets, check_timestamp, epoch_number, verify_hmac
from handlers.base import (
    AuthFailure,
    Inbound,
    Malformed,
    Record,
    SourceSettings,
    SourceType,
    register,
    resolve_path,
    secrets_equal,
)

HEADER_PREFIX = "header:"


class HmacOptions(Schema):
    """`hmac:` — a signature header over the raw body."""

    header = fields.String(required=True, validate=validate.Length(min=1))
    secret = Secrets(required=True)
    algorithm = fields.String(load_default="sha256", validate=validate.OneOf(ALGORITHMS))
    encoding = fields.String(load_default="hex", validate=validate.OneOf(("hex", "base64")))
    prefix = fields.String(load_default="")


class StandardWebhooksOptions(Schema):
    """`standard_webhooks:` — webhook-id / webhook-timestamp / webhook-signature."""

    secret = Secrets(required=True)

    @validates_schema
    def _secrets_decode(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Refuse at start-up a secret the library cannot decode (it must be base64, `whsec_` optional)."""
        for secret in data.get("secret", []):
            try:
                Webhook(secret)
            except (ValueError, EmptyWebhookSecretError, RuntimeError) as exc:  # binascii.Error is a ValueError
                raise ValidationError(f"not a Standard Webhooks secret ({type(exc).__name__})", "secret") from exc


class GenericOptions(Schema):
    """The generic type's own config keys."""

    hmac = fields.Nested(HmacOptions)
    standard_webhooks = fields.Nested(StandardWebhooksOptions)
    event_id = fields.String(validate=validate.Length(min=1))

    @validates_schema
    def _one_scheme(self, data: dict[str, Any], **kwargs: Any) -> None:
        """A request carries one signature scheme; configuring two is a mistake."""
        if data.get("hmac") and data.get("standard_webhooks"):
            raise ValidationError("configure either hmac or standard_webhooks, not both", "hmac")


def _verify_hmac_option(options: dict[str, Any], request: Inbound) -> None:
    """Check the configured HMAC header; raise AuthFailure."""
    given = request.header(options["header"])
    if not given:
        raise AuthFailure("missing_signature", f"{options['header']} is missing")
    algorithm, encoding = options.get("algorithm", "sha256"), options.get("encoding", "hex")
    prefix = options.get("prefix", "")
    if not any(verify_hmac(s, request.body, given, algorithm, encoding, prefix) for s in options["secret"]):
        raise AuthFailure("invalid_signature", "signature does not match")


def _verify_standard_webhooks(options: dict[str, Any], request: Inbound, now: float) -> None:
    """Check a Standard Webhooks signature against our clock (the library's verify reads the wall clock)."""
    msg_id = request.header("webhook-id")
    timestamp = (request.header("webhook-timestamp") or "").strip()
    offered = request.header("webhook-signature")
    if not (msg_id and timestamp and offered):
        raise AuthFailure("missing_signature", "webhook-id, webhook-timestamp and webhook-signature are required")
    seconds = epoch_number(timestamp, "webhook-timestamp")
    check_timestamp(seconds, now)
    try:
        data = request.body.decode("utf-8")  # the library signs text
    except UnicodeDecodeError as exc:
        raise AuthFailure("invalid_signature", "body is not UTF-8") from exc
    signed_at = datetime.fromtimestamp(seconds, tz=UTC)
    # The library's own sign() defines the scheme (secret decoding, message layout);
    # only the header parsing and the clock are ours.
    expected = [Webhook(s).sign(msg_id, signed_at, data).split(",", 1)[1] for s in options["secret"]]
    for entry in offered.split():
        version, _, signature = entry.partition(",")
        if version == "v1" and any(secrets_equal(e, signature) for e in expected):
            return
    raise AuthFailure("invalid_signature", "no matching signature")


def _json_records(request: Inbound) -> list[dict[str, Any]]:
    """A JSON object is one record, an array of objects one record each."""
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"invalid JSON: {exc}") from exc
    items = body if isinstance(body, list) else [body]
    if not items:
        raise Malformed("empty JSON array: no records")
    if not all(isinstance(item, dict) for item in items):
        raise Malformed("expected a JSON object or an array of objects")
    return items


def _key(spec: str | None, request: Inbound, fields_: dict[str, Any], index: int, count: int) -> str | None:
    """The record's idempotency key from the `event_id` option, or None."""
    if not spec:
        return None
    if spec.startswith(HEADER_PREFIX):
        value = request.header(spec[len(HEADER_PREFIX) :])
        # One delivery id covers the whole body: tell its records apart by position.
        return f"{value}:{index}" if value and count > 1 else value or None
    value = resolve_path(fields_, spec)
    return None if value in (None, "") else str(value)


@register
class Generic(SourceType):
    """Any sender that POSTs JSON or a form; a developer is on the other end."""

    name = "generic"
    retries = False  # answers 400/422 so the developer sees what is wrong
    options_schema = GenericOptions
    own_auth_signs = True  # a configured signature is required (tokens alone: allow_token_alone)

    def has_own_auth(self, source: SourceSettings) -> bool:
        """Whether hmac or standard_webhooks is configured."""
        return bool(source.options.get("hmac") or source.options.get("standard_webhooks"))

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """Check the configured signature scheme; raise AuthFailure."""
        if source.options.get("hmac"):
            _verify_hmac_option(source.options["hmac"], request)
        elif source.options.get("standard_webhooks"):
            _verify_standard_webhooks(source.options["standard_webhooks"], request, now)
        else:
            raise AuthFailure("invalid_signature", "no signature scheme configured")

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """Read a form or JSON body into records; raise Malformed."""
        if is_form(request):
            items = [read_form(request)]
        elif mimetype(request) in ("", "application/json", "text/plain") or mimetype(request).endswith("+json"):
            items = _json_records(request)
        else:
            raise Malformed(f"unsupported content type {mimetype(request)!r}: send JSON or a form")
        spec = source.options.get("event_id")
        return [Record(key=_key(spec, request, item, i, len(items)), fields=item) for i, item in enumerate(items)]
