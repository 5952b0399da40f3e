"""Zoho CRM workflow-rule webhooks: form-encoded or raw JSON, parameter names chosen by the admin.

Record.fields: every posted parameter by the name the admin typed (`First_Name`, `leadId`, …);
"-None-" (an unset picklist) and empty merge fields become None; the token parameter is
removed. JSON bodies keep long numeric ids exact: every JSON number is read as its text
("5725767000001234567", not a float). A JSON array posts one record per object.

Auth: the shared `token:` — header `X-Leadrelay-Token`, `?token=`, or a body parameter named
by `token_field` (form bodies: the common check; JSON bodies: checked here), constant time.
Failures: `missing_token` (JSON body without the field), `invalid_token`.

Key: `<record id>:<modified time>` when both are present (id: the source's `fields.externId`,
else the first of ID_FIELDS; modified time: option `modified_field`, else MODIFIED_FIELDS),
else None — intake then hashes the record and applies `dedupe_window`.
"""

from __future__ import annotations

import json
from typing import Any

from marshmallow import Schema
from marshmallow import fields as mfields

from handlers._forms import is_form, read_form
from handlers.auth import TOKEN_HEADER, TOKEN_QUERY
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

# Where the record id usually sits: Zoho's API names, then the names admins tend to type.
ID_FIELDS = ("id", "Id", "ID", "Record_Id", "Lead_Id", "leadId", "lead_id", "Contact_Id", "contactId", "recordId")
MODIFIED_FIELDS = ("Modified_Time", "modified_time", "modifiedTime", "Modified_time")
EMPTY = ("", "-None-")


class ZohoOptions(Schema):
    """Zoho's own config keys."""

    modified_field = mfields.String()  # the parameter carrying ${Leads.Modified Time}


def clean(value: Any) -> Any:
    """Blank merge fields and "-None-" picklists as None, recursing into lists and dicts."""
    if isinstance(value, str):
        return None if value.strip() in EMPTY else value
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, dict):
        return {k: clean(v) for k, v in value.items()}
    return value


def read_json(body: bytes) -> Any:
    """JSON with every number kept as its text (Zoho ids overflow floats)."""
    try:
        return json.loads(body.decode("utf-8-sig"), parse_int=str, parse_float=str)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"invalid JSON: {exc}") from exc


def first_present(fields: dict[str, Any], names: Any) -> Any:
    """The first non-empty value among `names` (a name or a list of names)."""
    for name in [names] if isinstance(names, str) else list(names or []):
        value = resolve_path(fields, name)
        if value not in (None, ""):
            return value
    return None


def record_key(source: SourceSettings, fields: dict[str, Any]) -> str | None:
    """`<id>:<modified>` from the mapped id and modified-time parameters, or None."""
    record_id = first_present(fields, source.fields.get("externId") or ID_FIELDS)
    modified_names = source.options.get("modified_field") or MODIFIED_FIELDS
    modified = first_present(fields, modified_names)
    if record_id is None or modified is None:
        return None
    return f"{record_id}:{modified}"


@register
class Zoho(SourceType):
    """Zoho CRM workflow webhooks with a shared token."""

    name = "zoho"
    retries = True
    options_schema = ZohoOptions

    def has_own_auth(self, source: SourceSettings) -> bool:
        """A token field in a JSON body is this type's own check (forms are covered by the common one)."""
        return bool(source.tokens and source.token_field)

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """Find the token in a JSON body's `token_field`; raise AuthFailure."""
        # A header or query token the common check refused makes the failure "invalid", not "missing".
        offered = request.header(TOKEN_HEADER) is not None or request.query_value(TOKEN_QUERY) is not None
        absent = "invalid_token" if offered else "missing_token"
        if is_form(request):
            raise AuthFailure("invalid_token")  # the common check already read the form field
        try:
            body = read_json(request.body)
        except Malformed as exc:
            raise AuthFailure(absent, "the body is not JSON") from exc
        given = body.get(source.token_field) if isinstance(body, dict) else None
        if not isinstance(given, str):
            raise AuthFailure(absent, f"no {source.token_field!r} in the body")
        matched = False
        for token in source.tokens:
            matched |= secrets_equal(token, given)
        if not matched:
            raise AuthFailure("invalid_token")

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """Form or JSON body → one record (a JSON array → one per object)."""
        if is_form(request):
            items: list[Any] = [read_form(request)]
        else:
            if not request.body.strip():
                raise Malformed("empty body")
            body = read_json(request.body)
            items = body if isinstance(body, list) else [body]
            if not items or not all(isinstance(item, dict) for item in items):
                raise Malformed("expected a JSON object (or an array of objects), or a form body")
        secret_names = {source.token_field, "token"} - {None}
        records = []
        for item in items:
            fields = {k: clean(v) for k, v in item.items() if k not in secret_names}
            records.append(Record(key=record_key(source, fields), fields=fields, event=None))
        return records
