"""Decode urlencoded and multipart request bodies from the raw bytes (no Flask request needed)."""

from __future__ import annotations

import io

from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header

from handlers.base import Inbound, Malformed

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def mimetype(request: Inbound) -> str:
    """Return the request's media type, lower-cased and without parameters."""
    return parse_options_header(request.content_type or request.header("Content-Type") or "")[0].lower()


def is_form(request: Inbound) -> bool:
    """Whether the body is an HTML-form encoding this module can read."""
    return mimetype(request) in FORM_TYPES


def read_form(request: Inbound) -> dict[str, str | list[str]]:
    """Parse a form body into `name → value`, a repeated name → list of values; files are skipped."""
    media, options = parse_options_header(request.content_type or request.header("Content-Type") or "")
    # silent=False so a broken multipart body is reported instead of read as an empty form.
    parser = FormDataParser(silent=False)
    try:
        _, form, files = parser.parse(io.BytesIO(request.body), media.lower(), len(request.body), options)
    except ValueError as exc:
        raise Malformed(f"unreadable form body: {exc}") from exc
    for upload in files.values():
        upload.close()  # a large part is a temporary file on disk; skipped, so released at once
    return {name: values[0] if len(values) == 1 else values for name, values in form.lists()}
