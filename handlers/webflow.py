"""Webflow `form_submission` webhooks: the x-webflow-signature HMAC over `timestamp:body`, v2 and legacy v1 bodies.

Record.fields: every key of the form's `data` (the designer's field names, e.g. `Phone`,
`First Name`; values as sent, a phone may be a JSON number), then the submission's own
`id`, `formId`, `formName`, `siteId`, `submittedAt`, `triggerType` (these win over a form
field of the same name), and the raw `payload` (so `payload.data.<name>` and
`payload.schema` resolve). The legacy v1 body (`_id`, `site`, `d`, `name`, `data`) is read
into the same names. Key: `id` (payload.id); event: `triggerType`.
"""

from __future__ import annotations

import json
from typing import Any

from marshmallow import Schema

from handlers.auth import Secrets, SignedHeader, check_timestamp, epoch_number
from handlers.base import AuthFailure, Inbound, Malformed, Record, SourceSettings, SourceType, register

SIGNATURE_HEADER = "x-webflow-signature"
TIMESTAMP_HEADER = "x-webflow-timestamp"
# Webflow signs `timestamp:body`, not the body alone (see verify).
SIGNATURE = SignedHeader(option="secret", header=SIGNATURE_HEADER, encoding="hex")
DEFAULT_TRIGGER = "form_submission"


class WebflowOptions(Schema):
    """Webflow's own config keys."""

    secret = Secrets()


def signed_message(timestamp: str, body: bytes) -> bytes:
    """What Webflow signs: the timestamp as sent, a colon, the raw body."""
    return timestamp.encode() + b":" + body


def _decode(body: bytes) -> dict[str, Any]:
    """Parse the JSON object or raise Malformed."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"invalid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise Malformed("expected a JSON object")
    return data


def _text(value: Any) -> str | None:
    """An id as text, None when blank."""
    if value is None or isinstance(value, (dict, list, bool)):
        return None
    text = str(value).strip()
    return text or None


def submission_fields(body: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    """Flatten a v2 (`payload`) or legacy v1 (`_id`/`site`/`d`) body; return (fields, trigger type)."""
    if isinstance(body.get("payload"), dict):
        payload = body["payload"]
        trigger = _text(body.get("triggerType")) or DEFAULT_TRIGGER
        meta = {
            "id": payload.get("id"),
            "formId": payload.get("formId"),
            "formName": payload.get("name"),
            "siteId": payload.get("siteId"),
            "submittedAt": payload.get("submittedAt"),
        }
    elif "_id" in body or "d" in body or "site" in body:
        payload = body
        trigger = _text(body.get("triggerType")) or DEFAULT_TRIGGER
        meta = {
            "id": body.get("_id"),
            "formId": body.get("formId"),
            "formName": body.get("name"),
            "siteId": body.get("site"),
            "submittedAt": body.get("d"),
        }
    else:
        raise Malformed("neither a Webflow v2 body (payload) nor a legacy v1 body (_id, site, d, data)")
    data = payload.get("data")
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise Malformed("form data is not an object")
    fields = dict(data)
    fields.update(meta)
    fields["id"] = _text(meta["id"])
    fields["triggerType"] = trigger
    fields["payload"] = payload
    return fields, trigger


@register
class Webflow(SourceType):
    """Webflow form submissions (Data API v2 webhooks, and the legacy v1 body)."""

    name = "webflow"
    retries = True  # non-200 → 3 retries 10 min apart
    options_schema = WebflowOptions
    own_auth_signs = True  # a configured signature is required (tokens alone: allow_token_alone)

    def has_own_auth(self, source: SourceSettings) -> bool:
        """Whether a signing secret is configured."""
        return SIGNATURE.configured(source)

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """Check the 5-minute window, then hex HMAC-SHA256(secret, `timestamp:body`) against any secret."""
        if not SIGNATURE.configured(source):
            raise AuthFailure("invalid_signature", "no secret configured")
        timestamp = (request.header(TIMESTAMP_HEADER) or "").strip()
        if not (request.header(SIGNATURE_HEADER) or "").strip():
            raise AuthFailure("missing_signature", f"{SIGNATURE_HEADER} is missing")
        if not timestamp:
            raise AuthFailure("missing_signature", f"{TIMESTAMP_HEADER} is missing")
        millis = epoch_number(timestamp, TIMESTAMP_HEADER, "milliseconds")
        # Stale before wrong: a replayed, validly signed request is told why it was refused.
        check_timestamp(millis / 1000.0, now)
        SIGNATURE.verify(source, request, signed_message(timestamp, request.body))

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """One record per submission."""
        fields, trigger = submission_fields(_decode(request.body))
        return [Record(key=fields["id"], fields=fields, event=trigger)]
