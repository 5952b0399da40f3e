"""Gravity Forms Webhooks add-on: JSON or FORM requests, "All Fields" (the entry) or "Select Fields".

Record.fields: the body as sent — for "All Fields" the entry object (`id`, `form_id`,
`date_created`, `source_url`, … and each answer under its field or input id, e.g. `"1.3"`
first name, `"2"` email, `"4.5"` ZIP); for "Select Fields" the keys the admin chose. Ids
are read exactly (`"1.3"` is a key, not a path). Key: `gf:<form_id>:<id>` (entry ids are
unique per site; the form id keeps two sites' forms apart), `gf:<id>` without a form id,
None when the body has no entry id (intake then hashes the record).

Auth: Gravity Forms signs nothing. Add a Request Header in the feed: `X-Leadrelay-Token:
<token>` or `Authorization: Bearer <token>`; both are checked against the source's `token`.
Per-form field maps (`forms:`) are applied by mappings/gravityforms.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields

from handlers._forms import is_form, mimetype, read_form
from handlers.base import AuthFailure, Inbound, Malformed, Record, SourceSettings, SourceType, register, secrets_equal
from lead.fieldmap import check_field_map

EVENT = "form_submission"
ID_KEYS = ("id", "entry_id")


class FormMaps(fields.Field[dict[str, dict[str, Any]]]):
    """Config field: `{<form id>: {<Engage field>: <input id or key>, …}}`."""

    def _deserialize(
        self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any
    ) -> dict[str, dict[str, Any]]:
        """Accept a mapping of form ids to field maps; form ids are compared as strings."""
        if not isinstance(value, dict):
            raise ValidationError("must map form ids to field maps, e.g. {3: {firstName: '1.3'}}")
        out = {}
        for form_id, field_map in value.items():
            if not isinstance(field_map, dict):
                raise ValidationError(f"form {form_id}: must be a field map")
            # YAML reads `1.3` as a float and `2` as an int; input ids are strings on the wire.
            field_map = {k: _id_text(v) for k, v in field_map.items()}
            problems = check_field_map(field_map)
            if problems:
                raise ValidationError(f"form {form_id}: {'; '.join(problems)}")
            out[str(form_id)] = field_map
        return out


def _id_text(spec: Any) -> Any:
    """Input ids written as YAML numbers back to their string form (lists and None kept)."""
    if isinstance(spec, bool):
        return spec
    if isinstance(spec, (int, float)):
        return str(spec)
    if isinstance(spec, list):
        return [_id_text(s) for s in spec]
    return spec


class GravityFormsOptions(Schema):
    """Gravity Forms' own config keys."""

    forms = FormMaps()


def _text(value: Any) -> str | None:
    """An id as text, None when blank."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = str(value).strip()
    return text or None


def entry_key(fields_: dict[str, Any]) -> str | None:
    """`gf:<form_id>:<entry id>` from the entry's ids, or None when there is no entry id."""
    entry_id = next((t for t in (_text(fields_.get(k)) for k in ID_KEYS) if t), None)
    if entry_id is None:
        return None
    form_id = _text(fields_.get("form_id"))
    return f"gf:{form_id}:{entry_id}" if form_id else f"gf:{entry_id}"


def bearer(request: Inbound) -> str | None:
    """The credential of an `Authorization: Bearer <token>` header, or None."""
    header = request.header("Authorization") or ""
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def body_fields(request: Inbound) -> dict[str, Any]:
    """The entry (or selected fields) from a FORM or JSON request."""
    if is_form(request):
        return dict(read_form(request))
    media = mimetype(request)
    if media not in ("", "application/json", "text/plain") and not media.endswith("+json"):
        raise Malformed(f"unsupported content type {media!r}: set the feed's Request Format to JSON or FORM")
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise Malformed("expected a JSON object (the entry or the selected fields)")
    return body


@register
class GravityForms(SourceType):
    """Gravity Forms Webhooks add-on feeds."""

    name = "gravityforms"
    retries = True  # the add-on's retry policy is undocumented; answer 2xx once stored
    options_schema = GravityFormsOptions

    def has_own_auth(self, source: SourceSettings) -> bool:
        """The token may also arrive as `Authorization: Bearer`, a header the feed can add."""
        return bool(source.tokens)

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """Accept `Authorization: Bearer <token>` matching any configured token."""
        given = bearer(request)
        matched = False
        for token in source.tokens:  # compare against every token: timing does not tell which
            matched |= secrets_equal(token, given)
        if not matched:
            raise AuthFailure("invalid_token", "no matching token in X-Leadrelay-Token, ?token= or Authorization")

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """One record per entry."""
        fields_ = body_fields(request)
        return [Record(key=entry_key(fields_), fields=fields_, event=EVENT)]
