"""Google Forms through our own Apps Script trigger (docs/sources/google_forms.md): JSON signed with X-Form-Signature.

Contract: POST `{source, formId, responseId, timestamp, respondentEmail, answers: {<question
title>: value | [values]}}` with `X-Form-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`.
A form-encoded variant (UrlFetchApp without contentType) is read too: the id keys as above,
`answers` as a JSON string, and/or every other posted key as an answer (repeated key → list).
Record.fields: the answers by question title, plus `respondentEmail`, `formId`, `responseId`,
`timestamp` and `source`, which win over an answer titled the same. Key: `responseId`.
"""

from __future__ import annotations

import json
from typing import Any

from marshmallow import Schema

from handlers._forms import is_form, mimetype, read_form
from handlers.auth import Secrets, SignedHeader
from handlers.base import Inbound, Malformed, Record, SourceSettings, SourceType, register

SIGNATURE_HEADER = "X-Form-Signature"
PREFIX = "sha256="
SIGNATURE = SignedHeader(option="secret", header=SIGNATURE_HEADER, encoding="hex", prefix=PREFIX)
ID_KEYS = ("source", "formId", "responseId", "timestamp", "respondentEmail")
ID_FIELD = "responseId"


class GoogleFormsOptions(Schema):
    """Google Forms' own config keys."""

    secret = Secrets()


def _json_body(request: Inbound) -> dict[str, Any]:
    """The JSON variant: an object whose `answers` is an object."""
    try:
        body = json.loads(request.body)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise Malformed("expected a JSON object")
    answers = body.get("answers")
    if answers is None:
        answers = {}
    if not isinstance(answers, dict):
        raise Malformed("answers must be an object of question title → answer")
    return {"answers": answers, **{k: body.get(k) for k in ID_KEYS if k in body}}


def _form_body(request: Inbound) -> dict[str, Any]:
    """The form-encoded variant: ids as keys, answers as a JSON string and/or as their own keys."""
    posted = read_form(request)
    answers: dict[str, Any] = {}
    packed = posted.pop("answers", None)
    if isinstance(packed, str) and packed.strip():
        try:
            decoded = json.loads(packed)
        except ValueError as exc:
            raise Malformed(f"answers is not JSON: {exc}") from exc
        if not isinstance(decoded, dict):
            raise Malformed("answers must be a JSON object of question title → answer")
        answers.update(decoded)
    elif packed is not None:
        answers["answers"] = packed  # a question titled "answers", sent as a plain value
    ids = {k: posted.pop(k) for k in ID_KEYS if k in posted}
    answers.update(posted)
    return {"answers": answers, **ids}


@register
class GoogleForms(SourceType):
    """Google Forms responses posted by the Apps Script trigger."""

    name = "google_forms"
    # The script, not Google, decides retries: ours retries network errors and 5xx only, and
    # logs a 4xx (bad secret, unreadable, no phone) in the Apps Script executions, where the
    # form owner sees why. So a 4xx is the useful answer, and the payload is stored anyway.
    retries = False
    options_schema = GoogleFormsOptions
    own_auth_signs = True  # a configured signature is required (tokens alone: allow_token_alone)

    def has_own_auth(self, source: SourceSettings) -> bool:
        """Whether a signing secret is configured."""
        return SIGNATURE.configured(source)

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """Check `X-Form-Signature: sha256=<hex hmac of the raw body>` against any configured secret."""
        SIGNATURE.verify(source, request)

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """One record per response; raise Malformed when the body is not the script's contract."""
        body = _form_body(request) if is_form(request) else None
        if body is None:
            if mimetype(request) not in ("application/json", "text/plain", "") and not mimetype(request).endswith(
                "+json"
            ):
                raise Malformed(f"unsupported content type {mimetype(request)!r}: the script posts JSON")
            body = _json_body(request)
        fields = dict(body.pop("answers"))
        fields.update(body)  # the response's ids win over an answer titled the same
        response_id = fields.get(ID_FIELD)
        key = str(response_id).strip() if isinstance(response_id, (str, int)) and str(response_id).strip() else None
        return [Record(key=key, fields=fields)]
