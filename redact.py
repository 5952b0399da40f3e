"""Configured secrets never at rest: strip them from stored headers and paths, mask them when showing a body.

The raw body stays byte-exact in storage (replay must re-verify and re-parse it), so a token sent
as a form field (Zoho `token_field`) is masked only where a body is shown (admin API, console).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit

from werkzeug.datastructures import Headers

from handlers.base import SourceSettings

MASK = "***"
# Headers that carry credentials whatever a source configures.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "x-leadrelay-token", "x-api-key"})
# Query parameters that carry credentials whatever a source configures (the `token:` scheme,
# Dynamics `?code=`, Meta's handshake).
CREDENTIAL_PARAMS = frozenset({"token", "code", "key", "hub.verify_token", "api_key", "apikey"})
# Option names whose string values are secrets. Salesforce's organization_id is public, and
# names (a Dynamics header's `name`, a basic-auth `username`) are not secrets.
_SECRET_OPTION = re.compile(r"(secret|token|password|webhook_key|^value$)", re.I)
# A secret shorter than this could match ordinary text everywhere; config keeps them longer.
_MIN_LEN = 4


def source_secrets(settings: SourceSettings) -> list[str]:
    """Every secret value configured for a source: `token:` values and secret-named options."""
    found: list[str] = [t for t in settings.tokens if isinstance(t, str)]
    _walk(settings.options, "", found)
    # Longest first, so a secret that contains another is masked whole.
    return sorted({s for s in found if len(s) >= _MIN_LEN}, key=len, reverse=True)


def _walk(value: Any, key: str, found: list[str]) -> None:
    """Collect string values under secret-named keys, at any depth."""
    if isinstance(value, Mapping):
        for name, item in value.items():
            _walk(item, str(name), found)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _walk(item, key, found)
    elif isinstance(value, str) and _SECRET_OPTION.search(key):
        found.append(value)


def _contains_secret(text: str, secrets: Iterable[str]) -> bool:
    """Whether any secret (or its URL-encoded form) occurs in `text`."""
    return any(s in text or quote(s, safe="") in text or quote_plus(s) in text for s in secrets)


def audit_headers(headers: Mapping[str, str] | Headers, secrets: list[str]) -> dict[str, str]:
    """The request headers to store: credential headers and any header carrying a secret masked."""
    return {
        name: (MASK if name.lower() in CREDENTIAL_HEADERS or _contains_secret(value, secrets) else value)
        for name, value in headers.items()
    }


def audit_path(raw_url: str, secrets: list[str]) -> str:
    """The raw path and query to store or log: credential parameters and any segment or value carrying a secret masked.

    The raw (still percent-encoded) path is kept, never the decoded one: a `%00` decoded is a
    NUL that PostgreSQL text refuses. A token in a path segment (`/webhooks/web/<token>`) is masked too.
    """
    parts = urlsplit(raw_url)
    path = "/".join(
        MASK if _contains_secret(segment, secrets) else segment for segment in (parts.path or "/").split("/")
    )
    if not parts.query:
        return path
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    kept = [(k, MASK if k.lower() in CREDENTIAL_PARAMS or _contains_secret(v, secrets) else v) for k, v in pairs]
    return path + "?" + urlencode(kept, safe="*")


def mask_body(body: bytes | str | None, secrets: list[str]) -> str | None:
    """A stored body for showing: every configured secret (raw or URL-encoded) replaced by ***."""
    if body is None:
        return None
    text = body.decode("utf-8", errors="replace") if isinstance(body, (bytes, bytearray, memoryview)) else str(body)
    for secret in secrets:
        for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
            text = text.replace(form, MASK)
    return text


def mask_event_body(settings: Any, source_name: str, body: bytes | str | None) -> str | None:
    """mask_body with the secrets of a configured source (`settings` is config.Settings); unknown source: as is."""
    source = settings.file.sources.get(source_name)
    return mask_body(body, source_secrets(source.settings) if source is not None else [])
