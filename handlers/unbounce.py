"""Unbounce form-submit webhooks: a form body whose `data.json` field holds the answers.

Record.fields: every key of `data.json` with its array unwrapped (one value → the value, an
empty array → None, several → the list), then `page_id`, `page_name`, `page_url`, `variant`
from the form body where `data.json` lacks them, and `ub_submission_id`, a synthesized id.
A JSON body (Unbounce's optional JSON content type) is read the same way; a form without
`data.json` is taken as its own fields. `data.xml` is ignored (its layout is undocumented).

Unbounce sends no submission id and no signature (authenticate with `token` in the URL).
`ub_submission_id` = `ub-` + the first 20 hex digits of
sha256("unbounce|<page id>|<date_submitted> <time_submitted>|<email, else phone digits>"),
stable across redeliveries so the lead's externId is too. Record.key is None: intake hashes
the whole record, and that key expires after `dedupe_window` — Unbounce's time has minute
resolution only, so a sender id this weak must not block a genuine resubmission forever.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from handlers._forms import is_form, mimetype, read_form
from handlers.base import AuthFailure, Inbound, Malformed, Record, SourceSettings, SourceType, register

DATA_FIELD = "data.json"
IGNORED_FORM_FIELDS = ("data.json", "data.xml")
PAGE_FIELDS = ("page_id", "page_name", "page_url", "variant")
ID_FIELD = "ub_submission_id"
EVENT = "form_submit"
EMAIL_KEYS = ("email", "email_address")
PHONE_KEYS = ("phone_number", "phone", "mobile", "mobile_phone")


def unwrap(value: Any) -> Any:
    """Unbounce puts every value in an array: one element → it, none → None, several → the list."""
    if isinstance(value, list):
        if not value:
            return None
        return value[0] if len(value) == 1 else value
    return value


def _json_object(text: str | bytes, what: str) -> dict[str, Any]:
    """Decode a JSON object or raise Malformed naming `what`."""
    try:
        data = json.loads(text)
    except (UnicodeDecodeError, ValueError) as exc:
        raise Malformed(f"{what} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise Malformed(f"{what} is not a JSON object")
    return data


def _first_text(fields: dict[str, Any], keys: tuple[str, ...]) -> str:
    """The first non-blank value among `keys`, as text ("" when none)."""
    for key in keys:
        value = fields.get(key)
        if isinstance(value, list):
            value = value[0] if value else None
        if value not in (None, "") and not isinstance(value, (dict, bool)):
            return str(value).strip()
    return ""


def submission_id(fields: dict[str, Any]) -> str:
    """A stable id for a submission that has none: page, submit time and who submitted."""
    page = _first_text(fields, ("page_uuid", "page_id"))
    when = f"{_first_text(fields, ('date_submitted',))} {_first_text(fields, ('time_submitted',))}".strip()
    who = _first_text(fields, EMAIL_KEYS).lower()
    if not who:
        who = "".join(ch for ch in _first_text(fields, PHONE_KEYS) if ch.isdigit())
    if not who:
        # No contact at all: the whole submission stands in, so different people stay different.
        who = json.dumps({k: v for k, v in fields.items() if k != ID_FIELD}, sort_keys=True, default=str)
    digest = hashlib.sha256(f"unbounce|{page}|{when}|{who}".encode()).hexdigest()
    return "ub-" + digest[:20]


def submission_fields(request: Inbound) -> dict[str, Any]:
    """Read the answers from data.json (form body), a JSON body, or the plain form."""
    if is_form(request):
        form = read_form(request)
        raw = form.get(DATA_FIELD)
        if isinstance(raw, list):
            raise Malformed("data.json appears more than once")
        if raw is not None:
            data = _json_object(raw, "data.json")
        else:
            data = {k: v for k, v in form.items() if k not in IGNORED_FORM_FIELDS}
        outer = form
    elif mimetype(request) in ("", "application/json", "text/plain") or mimetype(request).endswith("+json"):
        data = _json_object(request.body, "the body")
        outer = {}
    else:
        raise Malformed(f"unsupported content type {mimetype(request)!r}")
    fields = {str(k): unwrap(v) for k, v in data.items()}
    for key in PAGE_FIELDS:
        # data.json normally repeats these; the form's copy fills in when it does not.
        if fields.get(key) in (None, "") and isinstance(outer.get(key), str):
            fields[key] = outer[key]
    fields[ID_FIELD] = submission_id(fields)
    return fields


@register
class Unbounce(SourceType):
    """Unbounce landing-page form submissions (authenticated by `token` in the webhook URL)."""

    name = "unbounce"
    retries = True  # Unbounce expects 200; answer 2xx once stored
    options_schema = None

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """Unbounce signs nothing: only the shared `token` authenticates it."""
        raise AuthFailure("invalid_token", "unbounce sources authenticate with token")

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """One record per submission, keyed by a hash of the record (no sender id)."""
        return [Record(key=None, fields=submission_fields(request), event=EVENT)]
