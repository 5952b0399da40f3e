"""The `ringcx` type: RingCX (Engage Voice) web services reporting calls; records are dialer events, never leads.

A RingCX web service (Admin → Dev tools → Web services, type HTTP, method POST) sends a body
template whose data-element tags (`#uii#`, `#ani#`, …) RingCX fills in per call; it is attached
to campaign events (agent termination, post-disposition). It cannot sign: the shared `token:`
(header `X-Leadrelay-Token` or `?token=` in the URL) authenticates it.

Record.fields: the JSON object as sent (an array: one record per object), or the form's
`name → value`. The keys are the data-element names (docs/sources/ringcx.md gives the template);
`fields:` maps other names (mappings/ringcx.py). Key: None here; the mapping derives it from the
call id, the event and the agent, so RingCX resending the same call segment is a duplicate.
"""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from handlers._forms import is_form, mimetype, read_form
from handlers.base import AuthFailure, Inbound, Malformed, Record, SourceSettings, SourceType, register
from handlers.generic import _json_records

# RingCX's own scrub result (system disposition): recorded, never added to our do-not-call list,
# because it reflects RingCX's lists, not a request from the person.
APP_DNC = "APP_DNC"


class RingcxOptions(Schema):
    """The ringcx type's own config keys."""

    # Agent dispositions (exact names, as configured in RingCX) that mean "do not call me":
    # the number goes on leadrelay's do-not-call list and its other leads stop.
    dnc_dispositions = fields.List(fields.String(validate=validate.Length(min=1)), load_default=list)
    # Agent dispositions that end the lead (sale, not interested): the lead becomes `done` and
    # reloading that record is suppressed for `suppress_within` from the disposition.
    final_dispositions = fields.List(fields.String(validate=validate.Length(min=1)), load_default=list)


@register
class Ringcx(SourceType):
    """RingCX web services: one dialer event per request, matched to the lead it reports on."""

    name = "ringcx"
    retries = True  # RingCX's retry behaviour is undocumented: never give it a 4xx for a stored body
    options_schema = RingcxOptions
    makes_leads = False

    def verify(self, source: SourceSettings, request: Inbound, now: float) -> None:
        """RingCX web services cannot sign; only the shared token authenticates them."""
        raise AuthFailure("invalid_token", "ringcx has no signature scheme: configure `token:`")

    def parse(self, source: SourceSettings, request: Inbound) -> list[Record]:
        """Read a form or JSON body into dialer-event records; raise Malformed."""
        items: list[dict[str, Any]]
        if is_form(request):
            items = [read_form(request)]
        elif mimetype(request) in ("", "application/json", "text/plain") or mimetype(request).endswith("+json"):
            items = _json_records(request)
        else:
            raise Malformed(f"unsupported content type {mimetype(request)!r}: send JSON or a form")
        return [Record(key=None, fields=item, event=None) for item in items]
