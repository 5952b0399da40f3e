"""Twilio inbound SMS (the Messaging webhook "A message comes in"): an opt-out channel, never a lead source.

Body: `application/x-www-form-urlencoded` parameters (From, To, Body, MessageSid, AccountSid, …).
Record.fields: every parameter by its name (a repeated name → a list). Key: `MessageSid` (SmsSid
for old payloads): Twilio's id of the message, the same on a retry. Event: `sms`.

Auth: `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, full URL + every POST parameter's name
and value, sorted by name — case-sensitive, values of a repeated name sorted too)), Twilio's
"Webhooks security" page. The URL is the one Twilio called (set `public_url` behind a proxy);
Twilio may sign with or without the default port, so both forms are tried. A JSON body
(`?bodySHA256=` in the URL) is signed over the URL alone, and the body's SHA-256 must match.
`auth_token` is a list for rotation (the primary and the secondary token during a change).

Lifecycle: `opt_out_when: {Body: {stop_word: true}}` by default, and the type is lifecycle-only:
a message that matches no rule is stored `dropped`, never a lead (anyone can text the number).
Answer: an empty TwiML `<Response/>` (200, text/xml) once stored, so Twilio sends no reply of ours;
Twilio's own Advanced Opt-Out answers STOP on long codes and toll-free numbers by itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import urlsplit, urlunsplit

from marshmallow import Schema

from handlers._forms import is_form, read_form
from handlers.auth import Secrets
from handlers.base import AuthFailure, Inbound, Malformed, Record, Reply, SourceSettings, SourceType, register

SIGNATURE_HEADER = "X-Twilio-Signature"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
DEFAULT_PORTS = {"https": 443, "http": 80}


class TwilioOptions(Schema):
    """Twilio's own config keys."""

    auth_token = Secrets()  # the account's Auth Token (Console → Account → API keys & tokens)


def signature(token: str, url: str, params: Mapping[str, str | list[str]] | None) -> str:
    """base64(HMAC-SHA1(token, url + name+value for every parameter sorted by name, values sorted))."""
    message = url
    given: Mapping[str, str | list[str]] = params or {}
    for name in sorted(given):
        value = given[name]
        for item in sorted(set(value if isinstance(value, list) else [value])):
            message += name + item
    digest = hmac.new(token.encode("utf-8"), message.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def url_forms(url: str) -> list[str]:
    """The URL as called, and with the scheme's default port added or removed (Twilio signs either)."""
    parts = urlsplit(url)
    default = DEFAULT_PORTS.get(parts.scheme)
    if default is None or not parts.hostname:
        return [url]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    if parts.port is None:
        other = parts._replace(netloc=f"{host}:{default}")
    elif parts.port == default:
        other = parts._replace(netloc=host)
    else:
        return [url]
    return [url, urlunsplit(other)]


@register
class Twilio(SourceType):
    """Twilio's inbound-SMS webhook: STOP and the other FCC words opt the sender's number out."""

    name = "twilio"
    retries = True  # Twilio logs a failed webhook; a stored message is answered 200 either way
    own_auth_signs = True  # a configured signature is required (tokens alone: allow_token_alone)
    options_schema = TwilioOptions
    lifecycle_defaults: ClassVar[dict[str, list[dict[str, Any]]]] = {"opt_out_when": [{"Body": {"stop_word": True}}]}
    lifecycle_only = True

    def has_own_auth(self, source: SourceSettings) -> bool:
        """Whether auth_token is configured."""
        return bool(source.options.get("auth_token"))

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """Check X-Twilio-Signature against every configured token and both URL forms (constant time)."""
        given = request.header(SIGNATURE_HEADER)
        if not given:
            raise AuthFailure("missing_signature", f"no {SIGNATURE_HEADER} header")
        body_hash = request.query_value("bodySHA256")
        if body_hash is not None:
            if not hmac.compare_digest(hashlib.sha256(request.body).hexdigest(), body_hash.lower()):
                raise AuthFailure("invalid_signature", "the body does not match bodySHA256")
            params: dict[str, str | list[str]] | None = None
        else:
            params = read_form(request) if is_form(request) else {}
        ok = False
        for token in source.options.get("auth_token") or []:
            for url in url_forms(request.url):
                ok |= hmac.compare_digest(signature(token, url, params).encode(), given.encode())
        if not ok:
            raise AuthFailure("invalid_signature", f"{SIGNATURE_HEADER} does not match")

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """One record per message: the form's parameters by name."""
        if not is_form(request):
            raise Malformed("expected application/x-www-form-urlencoded (Twilio's inbound message webhook)")
        fields: dict[str, Any] = dict(read_form(request))
        if not fields:
            raise Malformed("empty form")
        key = fields.get("MessageSid") or fields.get("SmsSid")
        return [Record(key=str(key) if isinstance(key, str) and key else None, fields=fields, event="sms")]

    def reply(self, source: SourceSettings, request: Inbound, status: int, body: dict[str, Any]) -> Reply | None:
        """Once stored, empty TwiML (Twilio sends nothing back); other answers stay as they are."""
        if 200 <= status < 300:
            return Reply(200, EMPTY_TWIML, "text/xml; charset=utf-8")
        return None
