"""marshmallow schemas for admin input (validated: types, ranges, a maximum page size) and output."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_dump, validate

from lead.lifecycle import WAITING, LeadReason, LeadStatus

STATUS_VALUES = [s.value for s in LeadStatus]  # the OpenAPI enum of every lead status, in lifecycle order
REASON_VALUES = [r.value for r in LeadReason]

MAX_ID = 2**63 - 1  # a BIGINT: larger ids cannot exist, and PostgreSQL would refuse to compare them
MAX_PAGE = 500  # the most leads one page returns
ID_RANGE = validate.Range(min=1, max=MAX_ID, error="must be an id between 1 and 2^63-1")
# NUL and other control characters are never in a source name, externId, email or phone, and
# PostgreSQL refuses NUL in text: refuse them here (400) instead of failing in the database (500).
PRINTABLE = validate.Regexp(r"^[^\x00-\x1f\x7f]*$", error="must not contain control characters")


class LeadsQuery(Schema):
    """`/admin/api/leads` and `/admin/leads` filters."""

    status = fields.String(validate=validate.OneOf(STATUS_VALUES), metadata={"description": "a lead status"})
    source = fields.String(validate=[validate.Length(min=1, max=100), PRINTABLE])
    q = fields.String(
        validate=[validate.Length(min=1, max=200), PRINTABLE],
        metadata={"description": "externId, email, or the last 4 digits of a phone"},
    )
    limit = fields.Integer(
        load_default=50,
        validate=validate.Range(min=1, max=MAX_PAGE),
        metadata={"description": f"page size, at most {MAX_PAGE}"},
    )
    before = fields.Integer(validate=ID_RANGE, metadata={"description": "page backwards: leads with a smaller id"})


class ErrorAnswer(Schema):
    """Every error answer: `{"error": <code>, ...}`."""

    error = fields.String(required=True)
    detail = fields.Raw()
    errors = fields.Raw()
    status = fields.String()


class Lead(Schema):
    """One lead as stored: mapped Engage lead, sender record, route, Engage's answer."""

    id = fields.Integer(required=True)
    event_id = fields.Integer()
    source = fields.String()
    record_key = fields.String(allow_none=True)
    extern_id = fields.String(allow_none=True)
    status = fields.String(validate=validate.OneOf(STATUS_VALUES), metadata={"description": "lead/lifecycle.py"})
    priority = fields.String()
    campaign = fields.String(allow_none=True)
    load_options = fields.Raw(allow_none=True)
    lead = fields.Raw(allow_none=True)
    record = fields.Raw(allow_none=True)
    errors = fields.Raw(allow_none=True)
    warnings = fields.Raw(
        allow_none=True, metadata={"description": "optional fields left out of the lead: field → why"}
    )
    route_name = fields.String(allow_none=True, metadata={"description": "the matched route's `name:`"})
    route_position = fields.Integer(
        allow_none=True, metadata={"description": "the matched route's 1-based position at routing time; 0: fallback"}
    )
    fetch_spec = fields.Raw(allow_none=True)
    primary_phone = fields.String(allow_none=True)
    sandbox = fields.Boolean()
    received_at = fields.Float()
    updated_at = fields.Float()
    status_reason = fields.String(
        allow_none=True,
        validate=validate.OneOf(REASON_VALUES),
        metadata={"description": "why it waits, is held or is blocked (null: no reason)"},
    )
    unknown_fate = fields.Boolean(
        metadata={"description": "its last call may have landed: looked up in Engage before any resend"}
    )
    next_attempt_at = fields.Float(
        allow_none=True, metadata={"description": "when a waiting lead is tried again (epoch s); null otherwise"}
    )
    attempts = fields.Integer()
    claims = fields.Integer()
    claim_epoch = fields.Integer(allow_none=True)
    claimed_until = fields.Float(allow_none=True)
    delivered_at = fields.Float(allow_none=True)
    last_error = fields.String(allow_none=True)
    engage_response = fields.Raw(allow_none=True)
    timeline = fields.List(fields.Dict(), metadata={"description": "attempts and operator actions, oldest first"})
    compliance = fields.List(
        fields.Dict(),
        metadata={
            "description": "every compliance gate decision with its inputs and time, oldest first (docs/compliance.md)"
        },
    )
    first_attempt_at = fields.Float(allow_none=True, metadata={"description": "the dialer's first event about it"})
    first_connect_at = fields.Float(allow_none=True, metadata={"description": "the first event with a person reached"})
    dial_passes = fields.Integer(allow_none=True, metadata={"description": "RingCX's pass count (leadSearch backstop)"})
    dial_checked_at = fields.Float(allow_none=True)
    disposed_at = fields.Float(allow_none=True, metadata={"description": "a final disposition's time"})
    dialer_events = fields.List(fields.Dict(), metadata={"description": "RingCX web-service events, oldest first"})

    @post_dump
    def _due_only_while_waiting(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        """next_attempt_at means something only for a lead that waits for a time; null for the others."""
        if "next_attempt_at" in data and data.get("status") not in WAITING:
            data["next_attempt_at"] = None
        return data


class LeadPage(Schema):
    """A page of leads, newest first, with counts per status."""

    leads = fields.List(fields.Nested(Lead), required=True)
    counts = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)


class Event(Schema):
    """One stored webhook request with its raw body."""

    id = fields.Integer(required=True)
    source = fields.String()
    received_at = fields.Float()
    method = fields.String()
    path = fields.String()
    content_type = fields.String(allow_none=True)
    headers = fields.Dict()
    body = fields.String(allow_none=True)
    status = fields.String()
    reason = fields.String(allow_none=True)
    duplicate_of = fields.Integer(allow_none=True)
    remote_addr = fields.String(allow_none=True)


class Replayed(Schema):
    """A replay's result."""

    replayed = fields.List(fields.Integer(), required=True)
    status = fields.String(required=True)


class DncQuery(Schema):
    """`/admin/api/dnc` and `/admin/dnc` filters (a query string is never in the access log)."""

    q = fields.String(
        load_default="",
        validate=[validate.Length(max=40), PRINTABLE],
        metadata={"description": "digits anywhere in the number (formatting ignored)"},
    )
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=MAX_PAGE))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=10_000_000))


class DncEntry(Schema):
    """One number on the do-not-call list."""

    phone = fields.String(required=True, metadata={"description": "E.164"})
    reason = fields.String(allow_none=True)
    source = fields.String(metadata={"description": "a source name, or console, api, cli, import"})
    added_by = fields.String(metadata={"description": "event:<id>, session:<id>, token, cli:<user>"})
    created_at = fields.Float(metadata={"description": "epoch seconds"})


class DncPage(Schema):
    """A page of the list, newest first."""

    total = fields.Integer(required=True)
    numbers = fields.List(fields.Nested(DncEntry), required=True)


class DncAdd(Schema):
    """Put a number on the list: any format, stored in E.164."""

    phone = fields.String(required=True, validate=[validate.Length(min=1, max=40), PRINTABLE])
    reason = fields.String(validate=[validate.Length(max=500), PRINTABLE])


class DncRemove(Schema):
    """Take a number off the list: the phone in the body (never in a logged path) and why."""

    phone = fields.String(required=True, validate=[validate.Length(min=1, max=40), PRINTABLE])
    reason = fields.String(required=True, validate=[validate.Length(min=1, max=500), PRINTABLE])


class DncChanged(Schema):
    """What an add or a removal did."""

    phone = fields.String(required=True, metadata={"description": "E.164"})
    changed = fields.Boolean(
        required=True, metadata={"description": "false: it was already on the list (add) or not on it (remove)"}
    )
