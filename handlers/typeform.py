"""Typeform `form_response` webhooks: the Typeform-Signature HMAC and answers keyed by field ref.

Record.fields: every answer by `field.ref` → its value (choice → label, choices → list of
labels), `hidden` as a nested dict (so `hidden.<name>` resolves), `score` (calculated.score),
`token`, `form_id`, `event_id`, `landed_at`, `submitted_at`; empty strings become None.
The ids win over an answer whose ref collides with them. Key: `event_id`; event: `event_type`.
"""

from __future__ import annotations

import json
from typing import Any

from marshmallow import Schema

from handlers.auth import Secrets, SignedHeader
from handlers.base import Inbound, Malformed, Record, SourceSettings, SourceType, register

SIGNATURE_HEADER = "Typeform-Signature"
PREFIX = "sha256="
SIGNATURE = SignedHeader(option="secret", header=SIGNATURE_HEADER, encoding="base64", prefix=PREFIX)
# Answer types whose value sits under the key named by the type.
SCALAR_TYPES = ("text", "email", "phone_number", "number", "boolean", "date", "url", "file_url")


class TypeformOptions(Schema):
    """Typeform's own config keys."""

    secret = Secrets()


def blank_to_none(value: Any) -> Any:
    """Empty strings mean "not answered"; say so with None, recursing into dicts and lists."""
    if isinstance(value, str):
        return value if value.strip() else None
    if isinstance(value, dict):
        return {k: blank_to_none(v) for k, v in value.items()}
    if isinstance(value, list):
        return [blank_to_none(v) for v in value]
    return value


def answer_value(answer: dict[str, Any]) -> Any:
    """The value of one answer: a scalar, a choice label, or a list of choice labels."""
    kind = answer.get("type")
    if kind in SCALAR_TYPES:
        return answer.get(kind)
    if kind == "choice":
        choice = answer.get("choice") or {}
        # "Other" free-text answers carry `other` instead of a label.
        return choice.get("label", choice.get("other"))
    if kind == "choices":
        choices = answer.get("choices") or {}
        labels = list(choices.get("labels") or [])
        if choices.get("other"):
            labels.append(choices["other"])
        return labels
    # Unknown or structured types (payment, …): keep whatever sits under the type's key.
    return answer.get(kind) if isinstance(kind, str) else None


def answer_fields(answers: list[Any]) -> dict[str, Any]:
    """Map answers by `field.ref` (stable across form edits), falling back to `field.id`."""
    fields: dict[str, Any] = {}
    for answer in answers:
        if not isinstance(answer, dict):
            continue
        field = answer.get("field") or {}
        name = field.get("ref") or field.get("id")
        if name:
            fields[name] = answer_value(answer)
    return fields


def response_fields(body: dict[str, Any]) -> dict[str, Any]:
    """Flatten a webhook body into the record's fields."""
    response = body["form_response"]
    answers = response.get("answers")
    answers = [] if answers is None else answers
    if not isinstance(answers, list):
        raise Malformed("form_response.answers is not a list")
    fields = answer_fields(answers)
    hidden = response.get("hidden")
    calculated = response.get("calculated")
    fields.update(
        hidden=dict(hidden) if isinstance(hidden, dict) else {},
        score=calculated.get("score") if isinstance(calculated, dict) else None,
        token=response.get("token"),
        form_id=response.get("form_id"),
        event_id=body.get("event_id"),
        landed_at=response.get("landed_at"),
        submitted_at=response.get("submitted_at"),
    )
    cleaned: dict[str, Any] = blank_to_none(fields)
    return cleaned


@register
class Typeform(SourceType):
    """Typeform webhooks (`form_response`)."""

    name = "typeform"
    retries = True
    options_schema = TypeformOptions
    own_auth_signs = True  # a configured signature is required (tokens alone: allow_token_alone)

    def has_own_auth(self, source: SourceSettings) -> bool:
        """Whether a webhook secret is configured."""
        return SIGNATURE.configured(source)

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """Check `Typeform-Signature: sha256=<base64 hmac>` against any configured secret."""
        SIGNATURE.verify(source, request)

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """One record per webhook; raise Malformed when it is not a form_response body."""
        try:
            body = json.loads(request.body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise Malformed(f"invalid JSON: {exc}") from exc
        if not isinstance(body, dict) or not isinstance(body.get("form_response"), dict):
            raise Malformed("expected a JSON object with form_response")
        fields = response_fields(body)
        event_id = fields.get("event_id")
        return [Record(key=None if event_id is None else str(event_id), fields=fields, event=body.get("event_type"))]
