"""Loading data with a marshmallow schema: the first error becomes a ConfigError with its key and fix."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from marshmallow import Schema, ValidationError, fields

from config.errors import ConfigError, unknown_key_fix

_UNKNOWN_FIELD = "Unknown field."  # marshmallow's message for a key the schema does not have


def load_schema(
    schema: Schema,
    data: Any,
    where: str,
    prefix: str,
    doc: str = "leadrelay.example.yml",
    top_keys: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Load with a marshmallow schema, turning the first error into a ConfigError with its fix."""
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as exc:
        key, message = _first_error(exc.messages, prefix)
        if message == _UNKNOWN_FIELD:
            parts = [p for p in key[len(prefix) :].split(".") if p and not p.isdigit()]
            choices = set(top_keys or ()) if len(parts) == 1 and top_keys else _nested_keys(schema, parts[:-1])
            fix = unknown_key_fix(parts[-1], choices, doc) if choices and parts else f"remove it (every key: {doc})"
            raise ConfigError(where, key, "unknown key", fix) from None
        raise ConfigError(where, key, message, f"see {doc} for the accepted values") from None
    return loaded


def _first_error(messages: Any, prefix: str) -> tuple[str, str]:
    """Flatten marshmallow's nested error dict to (dotted key, message) of the first error."""
    if isinstance(messages, dict):
        for key, value in messages.items():
            sub = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                sub = prefix
            return _first_error(value, sub)
    if isinstance(messages, list) and messages:
        if isinstance(messages[0], (dict, list)):
            return _first_error(messages[0], prefix)
        return prefix, str(messages[0])
    return prefix, str(messages)


def _nested_keys(schema: Schema, parts: list[str]) -> set[str] | None:
    """The keys accepted at `parts` below `schema` (None when the path leaves nested schemas)."""
    for part in parts:
        by_key = {f.data_key or name: f for name, f in schema.fields.items()}
        field_ = by_key.get(part)
        if isinstance(field_, fields.List):
            field_ = field_.inner
        if not isinstance(field_, fields.Nested) or not isinstance(field_.schema, Schema):
            return None
        schema = field_.schema
    return {f.data_key or name for name, f in schema.fields.items()}
