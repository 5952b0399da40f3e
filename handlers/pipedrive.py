"""Pipedrive webhooks v1 and v2: HTTP Basic auth, person events, and deal/lead events fetched by person.

Event name (Record.event and field `event`): v1 `event` as sent ("added.person",
"updated.deal", "deleted.person"); v2 `<meta.action>.<meta.entity>` ("create.person",
"change.deal", "delete.person"). Field `action` holds the bare action.

Record.fields for a **person**: the person object (v1 `current`, v2 `data`) flat, plus
`phone_values` / `email_values` (the `phone`/`phones` and `email`/`emails` arrays as plain
values, primary first, blanks dropped), custom fields by their hash key at the top level
(v2's `custom_fields.<hash>` `{type, value}` reduced to the value, also under
`custom_fields.<hash>`), and `meta`, `previous`, `event`, `action`, `object`.
For **other objects** (deal, lead, …) the object sits nested under its name (`deal.value`,
`deal.stage_id`). Deal and lead events that carry a `person_id` set
`fetch={"object": "person", "id": person_id}`: `fetch()` GETs `/api/v2/persons/{id}` and
lays the person flat over the same fields. **Delete events carry no person data and are
never fetched**; the mapping refuses them (`event: delete events never dial`). The default
`cancel_when` (person, deal and lead deletions) cancels the pending leads of the person
(`id`, or a deal's or lead's `person_id`) before that.

Key: v2 `meta.id` (the event UUID); v1 `<webhook_id>:<meta.id>:<timestamp_micro>` (v1 has no
event id; `retry` is never part of it). None when the parts are missing.
Auth (`basic_auth: {username, password}`): `missing_credentials` when no Basic
Authorization header came, `invalid_credentials` when it does not match.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, ClassVar
from urllib.parse import quote

import requests
from marshmallow import Schema
from marshmallow import fields as mfields

from handlers._fetch import get_json
from handlers.auth import Secrets
from handlers.base import (
    AuthFailure,
    FetchError,
    Inbound,
    Malformed,
    Record,
    SourceSettings,
    SourceType,
    register,
    secrets_equal,
)

DEFAULT_API_BASE = "https://api.pipedrive.com"
DELETE_ACTIONS = ("deleted", "delete")
# Objects whose events name the person to call through `person_id`.
PERSON_LINKED = ("deal", "lead")
# Event-level keys laid over the object's own; the object's fields never hide them.
RESERVED = ("meta", "previous", "event", "action", "object", "matches_filters")


class BasicAuthSchema(Schema):
    """`basic_auth: {username, password}` as set on the Pipedrive webhook."""

    username = mfields.String(required=True)
    password = Secrets(required=True)  # a list allows rotation


class PipedriveOptions(Schema):
    """Pipedrive's own config keys."""

    basic_auth = mfields.Nested(BasicAuthSchema)
    api_token = Secrets()  # API token for fetching the person behind a deal or lead
    api_base_url = mfields.Url(require_tld=False, schemes={"http", "https"}, load_default=DEFAULT_API_BASE)


def basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(username, password) from a Basic Authorization header, or None."""
    if not header or header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def values_primary_first(items: Any) -> list[str]:
    """Plain values of a Pipedrive `[{value, primary, label}]` array, primary first."""
    if isinstance(items, str):
        return [items] if items.strip() else []
    if not isinstance(items, list):
        return []
    entries = [i if isinstance(i, dict) else {"value": i} for i in items]
    # sorted() is stable: the primary moves to the front, the rest keep Pipedrive's order.
    ordered = sorted(entries, key=lambda e: not e.get("primary"))
    return [str(e["value"]).strip() for e in ordered if e.get("value") not in (None, "") and str(e["value"]).strip()]


def custom_value(value: Any) -> Any:
    """A v2 custom field `{type, value}` (enum: `{type, id}`) reduced to its value."""
    if isinstance(value, dict) and "type" in value:
        return value.get("value", value.get("id"))
    return value


def person_fields(person: dict[str, Any]) -> dict[str, Any]:
    """A person (webhook or API) flat, with phone/email values and custom fields reachable."""
    fields = dict(person)
    fields["phone_values"] = values_primary_first(person.get("phones", person.get("phone")))
    fields["email_values"] = values_primary_first(person.get("emails", person.get("email")))
    custom = person.get("custom_fields")
    if isinstance(custom, dict):
        reduced = {k: custom_value(v) for k, v in custom.items()}
        fields["custom_fields"] = reduced
        for key, value in reduced.items():
            fields.setdefault(key, value)  # v1 puts custom fields at the top: same names in v2
    return fields


def linked_person(data: dict[str, Any]) -> str | None:
    """The `person_id` of a deal or lead (an int, or v1's `{value, name}` object)."""
    person = data.get("person_id")
    if isinstance(person, dict):
        person = person.get("value", person.get("id"))
    if person in (None, "", 0, False):
        return None
    return str(person)


def event_record(body: dict[str, Any]) -> Record:
    """One webhook body (v1 or v2) as a Record."""
    meta: dict[str, Any] = body["meta"] if isinstance(body.get("meta"), dict) else {}
    if "entity" in meta or str(meta.get("version", "")).startswith("2"):
        action, obj = meta.get("action"), meta.get("entity")
        data, key = body.get("data"), meta.get("id")
        event = f"{action}.{obj}" if action and obj else None
    else:
        action, obj = meta.get("action"), meta.get("object")
        data = body.get("current")
        parts = [meta.get("webhook_id"), meta.get("id"), meta.get("timestamp_micro")]
        key = ":".join(str(p) for p in parts) if all(p not in (None, "") for p in parts) else None
        event = body.get("event") or (f"{action}.{obj}" if action and obj else None)
    data = data if isinstance(data, dict) else {}
    context = {
        "meta": meta,
        "previous": body.get("previous"),
        "event": event,
        "action": action,
        "object": obj,
        "matches_filters": body.get("matches_filters", meta.get("matches_filters")),
    }
    fetch = None
    if action in DELETE_ACTIONS:
        # Nothing from the deleted object reaches the top level: a delete can never dial. A deleted
        # deal or lead keeps its `person_id` (from the object or `previous`): the id its leads
        # carry, so a `cancel_when` rule finds them.
        fields: dict[str, Any] = {"id": meta.get("entity_id", meta.get("id"))}
        if obj in PERSON_LINKED:
            previous = body.get("previous")
            fields["person_id"] = linked_person(data) or linked_person(previous if isinstance(previous, dict) else {})
    elif obj == "person":
        fields = person_fields(data)
    else:
        fields = {str(obj or "object"): data, "person_id": linked_person(data)}
        if obj in PERSON_LINKED and fields["person_id"]:
            fetch = {"object": "person", "id": fields["person_id"], "via": obj}
    fields.update(context)
    return Record(key=None if key in (None, "") else str(key), fields=fields, event=event, fetch=fetch)


@register
class Pipedrive(SourceType):
    """Pipedrive webhooks (v1 and v2), HTTP Basic auth, person fetch for deal and lead events."""

    name = "pipedrive"
    # v1 `meta.action: deleted`, v2 `delete` (Pipedrive "Guide for webhooks" v1 and v2): a deleted
    # person, or a deal or lead of that person, cancels the person's pending leads.
    lifecycle_defaults: ClassVar[dict[str, list[dict[str, Any]]]] = {
        "cancel_when": [{"action": {"in": list(DELETE_ACTIONS)}, "object": {"in": ["person", *PERSON_LINKED]}}]
    }
    retries = True
    options_schema = PipedriveOptions
    # Pipedrive's API allows bursts per token per 2 s; 20 is the smallest plan's, so it is safe everywhere.
    fetches = True
    fetch_rate = (20, 2.0)

    def has_own_auth(self, source: SourceSettings) -> bool:
        """Whether basic_auth is configured."""
        return bool(source.options.get("basic_auth"))

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """Check the Basic Authorization header in constant time; raise AuthFailure."""
        conf = source.options.get("basic_auth") or {}
        passwords = conf.get("password") or []
        if not conf.get("username") or not passwords:
            raise AuthFailure("invalid_credentials", "no basic_auth configured")
        given = basic_credentials(request.header("Authorization"))
        if given is None:
            raise AuthFailure("missing_credentials", "no Basic Authorization header")
        user_ok = secrets_equal(conf["username"], given[0])
        password_ok = False
        for password in passwords:
            password_ok |= secrets_equal(password, given[1])
        if not (user_ok and password_ok):
            raise AuthFailure("invalid_credentials", "Basic credentials do not match")

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """One Record per webhook body (Pipedrive sends one event per request)."""
        if not request.body.strip():
            raise Malformed("empty body")
        try:
            body = json.loads(request.body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise Malformed(f"invalid JSON: {exc}") from exc
        if not isinstance(body, dict) or not isinstance(body.get("meta"), dict):
            raise Malformed("not a Pipedrive webhook (no meta object)")
        return [event_record(body)]

    def fetch(self, source: SourceSettings, record: Record, session: requests.Session) -> Record:
        """GET /api/v2/persons/{id} and lay the person flat over the event's fields."""
        target = record.fetch or {}
        if target.get("object") != "person" or target.get("id") in (None, ""):
            raise FetchError(f"nothing to fetch for {target!r}", retryable=False)
        tokens = source.options.get("api_token") or []
        if not tokens:
            raise FetchError("no api_token configured for this pipedrive source", retryable=False)
        base = str(source.options.get("api_base_url") or DEFAULT_API_BASE).rstrip("/")
        url = f"{base}/api/v2/persons/{quote(str(target['id']), safe='')}"
        answer = get_json(session, url, f"pipedrive person {target['id']}", {"x-api-token": tokens[0]})
        person = answer.get("data") if isinstance(answer, dict) else None
        if not isinstance(person, dict):
            raise FetchError(f"pipedrive person {target['id']}: no data", retryable=False)
        fields = person_fields(person)
        for key in (*RESERVED, target.get("via") or "deal"):
            if key in record.fields:
                fields[key] = record.fields[key]
        # The fetch pool may hand over only the stored fields: the event name is read back from them.
        return Record(key=record.key, fields=fields, event=record.event or record.fields.get("event"))
