"""Map a parsed record to a validated Engage lead: `map_record`, `default_fields`, `MappingError`.

Each source type may have `mappings/<type>.py` defining `DEFAULT_FIELDS` and `Schema`;
types without one use `mappings/generic.py`.
"""

from __future__ import annotations

import copy
import importlib
import json
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from marshmallow import ValidationError

from handlers.base import Record, SourceSettings
from lead.fieldmap import check_field_map, merge_fields
from lead.phones import normalize_phones
from mappings.base import LeadMappingSchema, MappingError, collecting_warnings

__all__ = [
    "Identity",
    "MappingError",
    "check_field_map",
    "default_fields",
    "extern_id_of",
    "identify",
    "map_lead",
    "map_record",
]

FALLBACK = "generic"
_MODULES: dict[str, ModuleType] = {}


def _module(type_name: str) -> ModuleType:
    """The mapping module of a type, or the generic one when the type has none."""
    if type_name not in _MODULES:
        module = None
        if type_name.isidentifier():
            qualified = f"mappings.{type_name}"
            try:
                module = importlib.import_module(qualified)
            except ModuleNotFoundError as exc:
                if exc.name != qualified:
                    raise  # a real import error inside an existing module must surface
        if module is None or not (hasattr(module, "DEFAULT_FIELDS") and hasattr(module, "Schema")):
            module = importlib.import_module(f"mappings.{FALLBACK}")
        _MODULES[type_name] = module
    return _MODULES[type_name]


def default_fields(type_name: str) -> dict[str, Any]:
    """A copy of the type's default field map (Engage field → sender field)."""
    return copy.deepcopy(_module(type_name).DEFAULT_FIELDS)


def _flatten_errors(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """Marshmallow's nested messages as `field → [messages]` (nested keys dotted)."""
    if isinstance(messages, list):
        return {prefix or "_schema": [str(m) for m in messages]}
    out: dict[str, list[str]] = {}
    for key, value in messages.items():
        out.update(_flatten_errors(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


_SCHEMAS: dict[tuple[Any, ...], LeadMappingSchema] = {}


def _schema(source: SourceSettings) -> LeadMappingSchema:
    """The type's schema bound to this source's settings, built once per distinct settings.

    Building a marshmallow schema costs more than loading a record with it, and webhooks
    arrive by the hundred per second; the key covers every setting a schema reads, so a
    changed config gets a fresh one.
    """
    key = (
        source.type,
        source.name,
        source.default_region,
        source.phones,
        source.e164,
        json.dumps(source.fields, sort_keys=True, default=str),
        json.dumps(source.options, sort_keys=True, default=str),
    )
    cached = _SCHEMAS.get(key)
    if cached is not None:
        return cached
    module = _module(source.type)
    schema: LeadMappingSchema = module.Schema(
        source=source, field_map=merge_fields(module.DEFAULT_FIELDS, source.fields)
    )
    if not getattr(schema, "reusable", False):
        return schema
    if len(_SCHEMAS) > 256:
        _SCHEMAS.clear()
    _SCHEMAS[key] = schema
    return schema


def map_lead(source: SourceSettings, record: Record) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """(lead, warnings): the validated Engage lead and the optional fields left out, each with why.

    Raises MappingError naming the fields when the lead cannot be dialed (no phone, no externId,
    or a type's own refusal such as a delete event).
    """
    with collecting_warnings() as warnings:
        try:
            lead: dict[str, Any] = _schema(source).load(record.fields)
        except ValidationError as exc:
            raise MappingError(_flatten_errors(exc.messages)) from exc
    return lead, dict(warnings)


def extern_id_of(source: SourceSettings, record: Record) -> str | None:
    """The record's externId by the source's field map (the type's defaults included), or None.

    For a record that cannot become a lead: the console and the API still show which record it
    was. Never raises (the id itself may be what is wrong).
    """
    try:
        return _schema(source).value(record.fields, "externId", {})
    except Exception:
        return None


def map_record(source: SourceSettings, record: Record) -> dict[str, Any]:
    """Turn one record into a validated Engage lead dict; raise MappingError naming the fields."""
    return map_lead(source, record)[0]


@dataclass(frozen=True)
class Identity:
    """Who a lifecycle record is about: its externId and its numbers (E.164), either may be missing."""

    extern_id: str | None
    phones: list[str]


def identify(source: SourceSettings, record: Record) -> Identity:
    """The record's externId and phones by the source's field map, without judging it as a lead.

    A deletion carries no phone and a delete event is refused by the type's mapping: neither
    matters here. A type may name other id paths for this (`IDENTITY_FIELDS`, e.g. a Pipedrive
    deal's `person_id`, the id its leads carry); the source's own `fields:` still wins.
    """
    schema = _schema(source)
    module = _module(source.type)
    paths = dict(schema.field_map)
    for key, spec in getattr(module, "IDENTITY_FIELDS", {}).items():
        if key not in source.fields:
            paths[key] = spec
    extern = _first_scalar(record.fields, paths.get("externId"))
    phone_paths = paths.get("leadPhone") or []
    phone_paths = [phone_paths] if isinstance(phone_paths, str) else list(phone_paths)
    found = normalize_phones([record.get(p) for p in phone_paths], source.default_region)
    return Identity(extern_id=extern, phones=found.e164)


def _first_scalar(fields: dict[str, Any], spec: Any) -> str | None:
    """The first path of a field-map entry that holds a non-blank scalar, as text."""
    paths = [spec] if isinstance(spec, str) else list(spec or [])
    for path in paths:
        value = Record(key=None, fields=fields).get(path)
        if value is None or isinstance(value, (dict, list, bool)):
            continue
        text = str(int(value) if isinstance(value, float) and value.is_integer() else value).strip()
        if text:
            return text
    return None
