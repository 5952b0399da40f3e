"""Field types the config file uses beyond marshmallow's own: durations (secrets: handlers/auth.py Secrets)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from marshmallow import ValidationError, fields

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_SECONDS: dict[str | None, float] = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}


def parse_duration(value: Any) -> float:
    """Turn 90, "90s", "30m", "24h" or "7d" into seconds."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a string like 30m, 24h, 7d")
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a duration; use seconds or a string like 30m, 24h, 7d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class Duration(fields.Field[float]):
    """A marshmallow field for seconds-or-duration-string values."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None, **kwargs: Any) -> float:
        """Parse the duration or raise a validation error that says the accepted forms."""
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
