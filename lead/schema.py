"""The outbound Engage lead (one element of `uploadLeads`) and its phone rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from lead.phones import PhoneSet, is_dialable, normalize_phones

__all__ = ["LEAD_FIELDS", "TEXT_FIELDS", "EngageLeadSchema", "PhoneSet", "normalize_phones"]

# Plain optional text fields of a lead, in Engage's names.
TEXT_FIELDS = (
    "firstName",
    "midName",
    "lastName",
    "title",
    "suffix",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "auxData1",
    "auxData2",
    "auxData3",
    "auxData4",
    "auxData5",
)


class Email(fields.String):
    """An email address, trimmed and lower-cased before it is validated."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> str:
        """Trim and lower-case, then validate as a string."""
        text = super()._deserialize(value, attr, data, **kwargs)
        return text.strip().lower()


def _validate_lead_phone(value: str) -> None:
    """leadPhone: one or more dialable numbers joined by `|`."""
    parts = value.split("|")
    bad = [p for p in parts if not is_dialable(p)]
    if bad:
        raise ValidationError("must be 10-digit NANP numbers or E.164 (+…), joined by |")


def _validate_e164(value: str) -> None:
    """leadPhoneE164: exactly one E.164 number."""
    if not (value.startswith("+") and is_dialable(value)):
        raise ValidationError("must be one E.164 number (+…)")


class EngageLeadSchema(Schema):
    """A lead as Engage's lead loader takes it; unknown keys are refused."""

    externId = fields.String(required=True, validate=validate.Length(min=1))
    leadPhone = fields.String(required=True, validate=_validate_lead_phone)
    leadPhoneE164 = fields.String(validate=_validate_e164)
    email = Email(validate=validate.Email())
    extendedLeadData = fields.Dict(keys=fields.String(), values=fields.String())

    firstName = fields.String()
    midName = fields.String()
    lastName = fields.String()
    title = fields.String()
    suffix = fields.String()
    address1 = fields.String()
    address2 = fields.String()
    city = fields.String()
    state = fields.String()
    zip = fields.String()  # a string: leading zeros, ZIP+4 and UK postcodes survive
    auxData1 = fields.String()
    auxData2 = fields.String()
    auxData3 = fields.String()
    auxData4 = fields.String()
    auxData5 = fields.String()


LEAD_FIELDS = tuple(EngageLeadSchema().fields)
