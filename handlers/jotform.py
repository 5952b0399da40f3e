"""Jotform webhooks: a multipart form whose `rawRequest` field is a JSON string of answers keyed `q<N>_<name>`.

Record.fields: every `rawRequest` key as sent (`q3_name` → {first, last}, so `q3_name.first`
resolves; `q5_phoneNumber` → {full} or {area, phone}; `q6_address` → {addr_line1, addr_line2,
city, state, postal}), plus the top-level form fields (`formID`, `submissionID`, `formTitle`,
`ip`, `pretty`, `username`, …), which win over a colliding rawRequest key. `webhookURL` is
kept with its `token` query value masked (the URL carries this source's secret).
Key: `submissionID`. Jotform signs nothing: put `?token=` in the webhook URL.
"""

from __future__ import annotations

import json
import re
from typing import Any

from handlers._forms import is_form, mimetype, read_form
from handlers.base import AuthFailure, Inbound, Malformed, Record, SourceSettings, SourceType, register

RAW_FIELD = "rawRequest"
ID_FIELD = "submissionID"
_TOKEN_IN_URL = re.compile(r"([?&]token=)[^&#]*", re.IGNORECASE)


def top_level(request: Inbound) -> dict[str, Any]:
    """The posted fields: a multipart/urlencoded form, or a JSON object from a relay."""
    if is_form(request):
        return read_form(request)
    if mimetype(request) in ("application/json", "text/plain", ""):
        try:
            body = json.loads(request.body)
        except (UnicodeDecodeError, ValueError) as exc:
            raise Malformed(f"invalid JSON: {exc}") from exc
        if isinstance(body, dict):
            return body
    raise Malformed(f"unsupported body ({mimetype(request) or 'no content type'}): Jotform posts multipart/form-data")


def raw_answers(value: Any) -> dict[str, Any]:
    """Decode `rawRequest` (a JSON string; a relay may have decoded it already)."""
    if isinstance(value, list):
        raise Malformed("rawRequest was sent more than once")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise Malformed(f"rawRequest is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise Malformed("rawRequest is not a JSON object")
    return value


@register
class Jotform(SourceType):
    """Jotform form-submission webhooks."""

    name = "jotform"
    retries = True  # a stored-but-undialable submission still gets 2xx: nothing to gain from a retry

    def has_own_auth(self, source: SourceSettings) -> bool:
        """Jotform has no scheme of its own: the source's `token:` (in the URL) is the auth."""
        return False

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """Never reached (no own scheme); refuse rather than pass if it ever is."""
        raise AuthFailure("invalid_token", "Jotform is authenticated by the source's token")

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """One record per submission; raise Malformed when there is no readable rawRequest."""
        posted = top_level(request)
        if RAW_FIELD not in posted:
            raise Malformed("no rawRequest field: not a Jotform webhook body")
        fields = raw_answers(posted.pop(RAW_FIELD))
        if isinstance(posted.get("webhookURL"), str):
            posted["webhookURL"] = _TOKEN_IN_URL.sub(r"\1***", posted["webhookURL"])
        fields.update(posted)  # the submission's own ids win over answers that collide with them
        submission = fields.get(ID_FIELD)
        key = str(submission).strip() if isinstance(submission, (str, int)) and str(submission).strip() else None
        return [Record(key=key, fields=fields)]
