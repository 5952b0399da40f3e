"""The mapping machinery every type uses: field maps, value lookup, and the gathering schema."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from marshmallow import ValidationError, pre_load, validate

from handlers.base import SourceSettings, resolve_path
from lead.fieldmap import PSEUDO_FIELDS
from lead.phones import normalize_phones
from lead.schema import LEAD_FIELDS, TEXT_FIELDS, EngageLeadSchema

_EMAIL = validate.Email()

# RFC 5321 §4.5.3.1: a mailbox's local part holds at most 64 octets, a path at most 256 with its
# angle brackets, so an address at most 254.
EMAIL_LOCAL_MAX = 64
EMAIL_MAX = 254

# What a lead cannot do without: any other field that cannot be mapped is dropped with a warning.
REQUIRED_KEYS = frozenset({"externId", "leadPhone"})

# The warnings of the record being mapped now: one cached schema serves many threads, so they
# cannot live on the instance; map_record opens a sink around each load.
_WARNINGS: ContextVar[dict[str, list[str]] | None] = ContextVar("mapping_warnings", default=None)


def is_optional(key: str) -> bool:
    """Whether an error on this key costs only the field (an Engage field other than phone and externId)."""
    base = key.split(".", 1)[0]
    return key not in REQUIRED_KEYS and (base in LEAD_FIELDS or base in PSEUDO_FIELDS)


@contextmanager
def collecting_warnings() -> Iterator[dict[str, list[str]]]:
    """Collect the warnings of the loads inside this block (the dropped optional fields and why)."""
    sink: dict[str, list[str]] = {}
    token = _WARNINGS.set(sink)
    try:
        yield sink
    finally:
        _WARNINGS.reset(token)


def split_errors(errors: Mapping[str, list[str]]) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """(fatal, warnings): errors on optional fields are warnings, the rest keep the record from dialing."""
    fatal = {k: list(v) for k, v in errors.items() if not is_optional(k)}
    warnings = {k: list(v) for k, v in errors.items() if is_optional(k)}
    return fatal, warnings


def email_problem(email: str) -> str | None:
    """Why an (NFKC-normalised) email cannot go to Engage, or None when it can."""
    local = email.rsplit("@", 1)[0]
    if len(email) > EMAIL_MAX:
        return f"longer than {EMAIL_MAX} characters (RFC 5321): left out"
    if len(local) > EMAIL_LOCAL_MAX:
        return f"local part longer than {EMAIL_LOCAL_MAX} characters (RFC 5321): left out"
    try:
        _EMAIL(email.strip().lower())
    except ValidationError:
        return "not a valid email address: left out"
    return None


class MappingError(Exception):
    """A record could not become a lead; `errors` names each Engage field and why."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        """Keep the per-field errors; the message joins them for logs."""
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in errors.items()))
        self.errors = errors


class NotScalar(ValueError):
    """A sender value that is an object (or holds one) where a lead field takes text."""


def to_text(value: Any) -> str | None:
    """A sender value as lead text: trimmed; blanks → None; lists of scalars joined; numbers without `.0`.

    An object (or a list holding objects or lists) raises NotScalar: turning it into JSON text
    would send `{"zip":"80202"}` to the dialer as an address, so the mapping must name a scalar path.
    """
    if value is None or value == {}:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, dict):
        raise NotScalar("an object")
    if isinstance(value, list):
        if any(isinstance(v, (dict, list)) for v in value):
            raise NotScalar("a list of objects or lists")
        parts = [t for t in (to_text(v) for v in value) if t]
        return ", ".join(parts) or None
    text = str(value).strip()
    return text or None


def _not_scalar_reason(path: str, kind: str, value: Any) -> str:
    """Say which sender path holds a non-scalar and how to map it instead."""
    hint = ""
    if isinstance(value, dict) and value:
        keys = ", ".join(f"{path}.{k}" for k in list(value)[:3])
        hint = f" (e.g. {keys})"
    elif isinstance(value, list):
        hint = f" (e.g. {path}.0 or {path}.0.<key>)"
    return f"{path} is {kind}, not text: map a scalar path instead{hint}"


def _specs(spec: str | list[str]) -> list[str]:
    """A field map value as a list of sender paths."""
    return [spec] if isinstance(spec, str) else list(spec)


class LeadMappingSchema(EngageLeadSchema):
    """Gather a record's fields into an Engage lead (pre_load), then validate it as one."""

    # One instance serves every record of a source (map_record caches it); a subclass that keeps
    # per-record state on the instance sets this to False.
    reusable = True

    def __init__(self, *, source: SourceSettings, field_map: Mapping[str, Any], **kwargs: Any) -> None:
        """Bind the source (region, phone options) and its merged field map."""
        super().__init__(**kwargs)
        self.source = source
        self.field_map = field_map

    @pre_load
    def _gather(self, data: Mapping[str, Any], **kwargs: Any) -> dict[str, Any]:
        """Build the lead from the record; only what it cannot do without is fatal, the rest warns.

        A field that cannot be mapped (an object where text goes, a malformed email) is left out
        and named in the warnings: an address never costs a dialable lead.
        """
        lead, errors = self.gather(data)
        fatal, warnings = split_errors(errors)
        if fatal:
            raise ValidationError(fatal)
        sink = _WARNINGS.get()
        if sink is not None:
            sink.update(warnings)
        return lead

    def value(self, data: Mapping[str, Any], key: str, errors: dict[str, list[str]] | None = None) -> str | None:
        """The first sender path of `key` that resolves to non-blank text.

        A path that resolves to an object is an error for `key` (recorded in `errors`, or raised
        as NotScalar when no dict is given), never JSON text in a lead field.
        """
        return self._first_text(data, _specs(self.field_map.get(key, [])), key, errors)

    @staticmethod
    def _first_text(
        data: Mapping[str, Any], paths: list[str], key: str, errors: dict[str, list[str]] | None
    ) -> str | None:
        """Text of the first path that has some; a non-scalar stops the search with its reason."""
        for path in paths:
            raw = resolve_path(data, path)
            try:
                text = to_text(raw)
            except NotScalar as exc:
                reason = _not_scalar_reason(path, str(exc), raw)
                if errors is None:
                    raise NotScalar(reason) from exc
                errors.setdefault(key, []).append(reason)
                return None
            if text is not None:
                return text
        return None

    def gather(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """Return (lead, errors): ids, names, contact fields, phones, extra data."""
        lead: dict[str, Any] = {}
        errors: dict[str, list[str]] = {}
        extern_id = self.value(data, "externId", errors)
        if extern_id is not None:
            lead["externId"] = extern_id
        elif "externId" not in errors:
            errors["externId"] = [f"missing: {self.describe('externId')}"]
        for key in TEXT_FIELDS:
            text = self.value(data, key, errors)
            if text is not None:
                lead[key] = text
        self.split_full_name(data, lead, errors)
        email = self.value(data, "email", errors)
        if email is not None:
            # Full-width and compatibility forms (ＡＤＡ@ＥＸＡＭＰＬＥ.ＣＯＭ) become the address people type.
            email = unicodedata.normalize("NFKC", email).strip()
            problem = email_problem(email)
            if problem is None:
                lead["email"] = email
            else:
                errors.setdefault("email", []).append(problem)
        extended = self.extended(data, errors)
        phone_error = self.phones(data, lead, extended)
        if phone_error:
            errors["leadPhone"] = [phone_error]
        if extended:
            lead["extendedLeadData"] = extended
        return lead, errors

    def describe(self, key: str) -> str:
        """The sender paths of `key`, for error messages."""
        return ", ".join(_specs(self.field_map.get(key, []))) or "no field mapped"

    def split_full_name(
        self, data: Mapping[str, Any], lead: dict[str, Any], errors: dict[str, list[str]] | None = None
    ) -> None:
        """Use `fullName` only when neither first nor last name resolved; split on the first whitespace."""
        if "firstName" in lead or "lastName" in lead:
            return
        full = self.value(data, "fullName", errors)
        if full is None:
            return
        parts = full.split(None, 1)  # str.split: any Unicode whitespace, ideographic space included
        lead["firstName"] = parts[0]
        if len(parts) > 1:
            lead["lastName"] = parts[1].strip()

    def extended(self, data: Mapping[str, Any], errors: dict[str, list[str]] | None = None) -> dict[str, str]:
        """extendedLeadData: only the Engage keys the field map configures."""
        spec = self.field_map.get("extendedLeadData") or {}
        out: dict[str, str] = {}
        if not isinstance(spec, Mapping):
            return out  # config check reports the shape; a lead is still worth dialing
        for name, paths in spec.items():
            text = self._first_text(data, _specs(paths), f"extendedLeadData.{name}", errors)
            if text is not None:
                out[str(name)] = text
        return out

    def phones(self, data: Mapping[str, Any], lead: dict[str, Any], extended: dict[str, str]) -> str | None:
        """Set leadPhone (and leadPhoneE164, extensions); return an error message when none dials."""
        paths = _specs(self.field_map.get("leadPhone", []))
        found = normalize_phones([resolve_path(data, p) for p in paths], self.source.default_region)
        if not found.numbers:
            note = f" ({len(found.invalid)} value(s) not a valid number)" if found.invalid else ""
            return f"no dialable phone number in {', '.join(paths) or 'no field mapped'}{note}"
        numbers = found.numbers[:1] if self.source.phones == "primary" else found.numbers
        lead["leadPhone"] = "|".join(numbers)
        primary = numbers[0]
        if self.source.e164 or primary.startswith("+"):
            lead["leadPhoneE164"] = found.primary_e164
        for number in numbers:
            ext = found.extensions.get(number)
            if ext:
                # The primary's extension is the one an agent needs first; others name their number.
                extended["phoneExtension" if number == primary else f"phoneExtension_{number}"] = ext
        return None
