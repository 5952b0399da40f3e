"""One builder per concept the tests share: the copied fixtures (tests/data), an Inbound request, a source.

A test module that needs its own defaults binds them (`functools.partial(inbound, url=META["url"])`)
rather than writing another builder.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from werkzeug.datastructures import Headers

from handlers.base import Inbound, SourceSettings, type_of

DATA = Path(__file__).resolve().parent / "data"  # real-shaped requests copied from the shared fixtures


def fixture_bytes(name: str) -> bytes:
    """A copied fixture body, byte-exact."""
    return (DATA / name).read_bytes()


def fixture_meta(name: str) -> dict[str, Any]:
    """A copied fixture's .meta.json (the URL it was signed for, headers, secrets of the sample)."""
    stem = name.rsplit(".", 1)[0]
    meta: dict[str, Any] = json.loads((DATA / f"{stem}.meta.json").read_text())
    return meta


def inbound(
    body: bytes = b"",
    *,
    url: str = "https://leads.example.com/webhooks/x",
    headers: Any = None,
    content_type: str = "",
    method: str = "POST",
    remote_addr: str = "",
    query: dict[str, list[str]] | None = None,
) -> Inbound:
    """An Inbound as webhooks.py builds it: path and query taken from the URL the sender signed."""
    parts = urlsplit(url)
    return Inbound(
        method,
        url,
        parts.path,
        query if query is not None else parse_qs(parts.query, keep_blank_values=True),
        Headers(headers or {}),
        body,
        content_type,
        remote_addr,
    )


def source(
    type_: str = "generic", name: str | None = None, options: dict[str, Any] | None = None, **settings: Any
) -> SourceSettings:
    """A source of `type_` as config builds it: its options through the type's schema (defaults applied)."""
    schema = type_of(type_).options_schema
    loaded = schema().load(options or {}) if schema is not None else dict(options or {})
    return SourceSettings(name=name or type_, type=type_, options=loaded, **settings)
