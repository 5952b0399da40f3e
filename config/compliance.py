"""The `compliance:` block (top level, and a source's override of it) → compliance.GateSettings.

Validated here so a bad block fails at start naming file, key and fix: a state's operator hours
wider than that state's legal window, a window shorter than the close margin, `on_missing:
manual` without a campaign, an api_base that would send the TrustedForm key in the clear.
"""

from __future__ import annotations

import enum
import ipaddress
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from compliance.consent import REQUIRE_ALL, REQUIRE_NONE, ConsentSettings
from compliance.gates import GateSettings
from compliance.rules import Span, caps, legal_span, rule_by_id
from compliance.trustedform import DEFAULT_API_BASE, MATCH_MODES
from compliance.windows import WindowSettings
from config.errors import ConfigError, unknown_key_fix
from config.fields import Duration
from config.validation import load_schema

DOC = "docs/compliance.md"


class ConfigKey(enum.StrEnum):
    """Keys of the block that share a word with a lead reason (the file's names are fixed by issue 15)."""

    CONSENT = "consent"


CONSENT_ACTIONS = ("block", "manual")
US_CODES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "PR",
        "GU",
        "VI",
        "AS",
        "MP",
    ]
)


class _Off(fields.Field[Any]):
    """A value that may be `off` (YAML's unquoted off/no/false arrive as False) or anything else."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        """False and the string "off" become "off"; other values pass through for the caller."""
        if value is False or (isinstance(value, str) and value.strip().lower() == "off"):
            return "off"
        return value


class _Require(fields.Field[Any]):
    """consent.require: none, all, or a list of campaigns."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> Any:
        """A list of campaign names/ids becomes a tuple of strings."""
        if value in (REQUIRE_NONE, REQUIRE_ALL):
            return value
        if value is False or value is None:
            return REQUIRE_NONE
        if isinstance(value, list) and value and all(isinstance(v, (str, int)) for v in value):
            return tuple(str(v) for v in value)
        raise ValidationError("use none, all, or a list of campaigns (names or ids)")


class TrustedFormSchema(Schema):
    """consent.trustedform."""

    class Meta:
        """Unknown keys are errors."""

    api_key = fields.String(validate=validate.Length(min=1))
    api_base = fields.String()
    field = fields.String(validate=validate.Length(min=1))
    match = fields.String(validate=validate.OneOf(MATCH_MODES))


class JornayaSchema(Schema):
    """consent.jornaya."""

    field = fields.String(validate=validate.Length(min=1))


class ConsentSchema(Schema):
    """compliance.consent."""

    require = _Require()
    on_missing = fields.String(validate=validate.OneOf(CONSENT_ACTIONS))
    manual_campaign = fields.Raw()
    on_unavailable = fields.String(validate=validate.OneOf(CONSENT_ACTIONS))
    max_wait = Duration()
    trustedform = fields.Nested(TrustedFormSchema)
    jornaya = fields.Nested(JornayaSchema)
    field = fields.String(validate=validate.Length(min=1))
    text_field = fields.String(validate=validate.Length(min=1))
    timestamp_field = fields.String(validate=validate.Length(min=1))


class ComplianceSchema(Schema):
    """`compliance:` at the top level or in a source (every key optional; defaults applied later)."""

    class Meta:
        """Unknown keys are errors (the validation names them with a suggestion)."""

        unknown = EXCLUDE

    calling_hours = _Off()
    close_margin = Duration()
    state_rules = fields.Dict(keys=fields.String(), values=_Off())
    consent = fields.Nested(ConsentSchema)
    max_loads_per_24h = fields.Dict(keys=fields.String(), values=_Off())
    evidence_days = fields.Integer(validate=validate.Range(min=1))


def load_block(raw: Any, where: str, key: str) -> dict[str, Any]:
    """Validate one `compliance:` mapping (top level or a source's) without applying defaults."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(where, key, "must be a mapping", f"see {DOC} for the keys")
    for word in sorted(set(raw) - set(ComplianceSchema().fields)):
        raise ConfigError(where, f"{key}.{word}", "unknown key", unknown_key_fix(word, ComplianceSchema().fields, DOC))
    return load_schema(ComplianceSchema(), raw, where, key, DOC)


def merge(top: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """A source's block over the top-level one: nested maps merge, calling_hours is replaced whole."""
    merged = dict(top)
    for name, value in override.items():
        if name != "calling_hours" and isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = merge(merged[name], value)
        else:
            merged[name] = value
    return merged


def _state_rules(raw: Mapping[str, Any], where: str, key: str) -> tuple[frozenset[str], frozenset[str]]:
    """state_rules: {KY: on, WA: off} → (rules turned on, rules turned off)."""
    known = rule_by_id()
    on, off = set(), set()
    for rule_id, value in raw.items():
        if rule_id not in known or rule_id == "federal":
            choices = sorted(r for r in known if r != "federal")
            raise ConfigError(
                where, f"{key}.state_rules.{rule_id}", "no such state rule", f"use one of {', '.join(choices)}"
            )
        if value == "off":
            off.add(rule_id)
        elif value is True or (isinstance(value, str) and value.lower() == "on"):
            on.add(rule_id)
        else:
            raise ConfigError(where, f"{key}.state_rules.{rule_id}", f"{value!r} is not on/off", "write on or off")
    return frozenset(on), frozenset(off)


def _hours(raw: Any, on: frozenset[str], margin: float, where: str, key: str) -> dict[str, Span]:
    """calling_hours as a map of default/state → window, each checked against the law."""
    if not isinstance(raw, dict):
        raise ConfigError(
            where, f"{key}.calling_hours", "must be off or a map", 'write {default: "09:00-20:00", FL: "09:00-19:00"}'
        )
    hours: dict[str, Span] = {}
    for name, text in raw.items():
        state = str(name) if name == "default" else str(name).upper()
        at = f"{key}.calling_hours.{name}"
        if state != "default" and state not in US_CODES:
            raise ConfigError(where, at, "not a US state or territory code", "use default or a two-letter code like FL")
        try:
            span = Span.parse(str(text))
        except ValueError as exc:
            raise ConfigError(where, at, str(exc), 'write a window like "09:00-20:00"') from None
        if state != "default":
            law = legal_span(state, on)
            if not span.within(law):
                raise ConfigError(
                    where,
                    at,
                    f"{span} is wider than {state}'s legal window {law}",
                    f"narrow it to within {law} or remove the key",
                )
        if (span.end - span.start) * 60 <= margin:
            raise ConfigError(
                where,
                at,
                f"{span} is not longer than close_margin ({margin / 60:.0f} min)",
                "widen it or lower close_margin",
            )
        hours[state] = span
    return hours


def _api_base(value: str, where: str, key: str) -> str:
    """https, or http only to a loopback address (the fake in tests): the key must not travel in the clear."""
    parts = urlsplit(value)
    host = parts.hostname or ""
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if parts.scheme == "https" or (parts.scheme == "http" and loopback):
        return value.rstrip("/")
    raise ConfigError(where, f"{key}.consent.trustedform.api_base", "must be an https URL", f"use {DEFAULT_API_BASE}")


def _consent(raw: Mapping[str, Any], where: str, key: str) -> ConsentSettings:
    """consent: with defaults, checked for a manual campaign and a usable TrustedForm setup."""
    tf = raw.get("trustedform") or {}
    settings = ConsentSettings(
        require=raw.get("require", REQUIRE_NONE),
        on_missing=raw.get("on_missing", "block"),
        manual_campaign=None if raw.get("manual_campaign") is None else str(raw["manual_campaign"]),
        on_unavailable=raw.get("on_unavailable", "block"),
        max_wait=raw.get("max_wait", 600.0),
        trustedform_api_key=tf.get("api_key"),
        trustedform_api_base=_api_base(tf.get("api_base", DEFAULT_API_BASE), where, key),
        trustedform_field=tf.get("field", "xxTrustedFormCertUrl"),
        trustedform_match=tf.get("match", "phone"),
        jornaya_field=(raw.get("jornaya") or {}).get("field", "leadid_token"),
        field=raw.get("field"),
        text_field=raw.get("text_field"),
        timestamp_field=raw.get("timestamp_field"),
    )
    if "manual" in (settings.on_missing, settings.on_unavailable) and not settings.manual_campaign:
        raise ConfigError(
            where, f"{key}.consent.manual_campaign", "required when on_missing or on_unavailable is manual",
            "name the campaign your people dial by hand",
        )  # fmt: skip
    return settings


def _caps(raw: Mapping[str, Any], where: str, key: str) -> dict[str, int]:
    """max_loads_per_24h: the law's defaults (FL, OK, MD: 1) with the operator's per-state values."""
    found = {state: cap.max_loads_per_24h for state, cap in caps().items()}
    for name, value in raw.items():
        state = str(name).upper()
        at = f"{key}.max_loads_per_24h.{name}"
        if state not in US_CODES:
            raise ConfigError(where, at, "not a US state or territory code", "use a two-letter code like FL")
        if value == "off":
            found.pop(state, None)
        elif isinstance(value, int) and not isinstance(value, bool) and value >= 1:
            found[state] = value
        else:
            raise ConfigError(where, at, f"{value!r} is not a count", "write a whole number ≥ 1, or off")
    return found


def gate_settings(
    block: Mapping[str, Any], default_off: str | None, where: str, key: str = "compliance"
) -> GateSettings:
    """The gates for one source: windows on unless calling_hours: off, or `default_off` (sandbox) and no map."""
    margin = float(block.get("close_margin", 30 * 60.0))
    on, off = _state_rules(block.get("state_rules") or {}, where, key)
    hours_raw = block.get("calling_hours")
    explicit_off = hours_raw == "off"
    hours = {} if hours_raw is None or explicit_off else _hours(hours_raw, on, margin, where, key)
    windows = WindowSettings(
        enabled=not explicit_off and (default_off is None or hours_raw is not None),
        hours=hours,
        close_margin=margin,
        turned_on=on,
        turned_off=off,
    )
    return GateSettings(
        windows=windows,
        consent=_consent(block.get(ConfigKey.CONSENT) or {}, where, key),
        caps=_caps(block.get("max_loads_per_24h") or {}, where, key),
        evidence_days=int(block.get("evidence_days", 5 * 365)),
        calling_hours_off=explicit_off,
        windows_default_off=default_off,
    )
