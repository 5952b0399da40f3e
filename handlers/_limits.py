"""Shape limits on parsed input: nesting depth, string length, numbers, text PostgreSQL can store.

Parsers produce plain dicts/lists/strings/numbers; these checks run on what they produced, so no
sender type can hand the mapping, the router or the store something that crashes them.
"""

from __future__ import annotations

import math
from typing import Any

from handlers.base import Malformed

MAX_DEPTH = 32  # no sender nests a form deeper than a handful of levels
MAX_STRING = 256 * 1024  # one field value; a whole body is at most max_body anyway
MAX_INT_DIGITS = 40  # beyond any id or amount a sender uses; bigger ints are not numbers we act on


def check_shape(value: Any, depth: int = 0) -> None:
    """Raise Malformed when `value` nests deeper than MAX_DEPTH, holds an oversized string or an unusable number.

    Iterative, so a 100,000-deep structure costs no recursion.
    """
    stack = [(value, depth)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            if level >= MAX_DEPTH:
                raise Malformed(f"nested deeper than {MAX_DEPTH} levels")
            for key, child in item.items():
                _check_scalar(key)
                stack.append((child, level + 1))
        elif isinstance(item, (list, tuple)):
            if level >= MAX_DEPTH:
                raise Malformed(f"nested deeper than {MAX_DEPTH} levels")
            stack.extend((child, level + 1) for child in item)
        else:
            _check_scalar(item)


def _check_scalar(item: Any) -> None:
    """One leaf: bounded string, finite float, int of sane size."""
    if isinstance(item, str):
        if len(item) > MAX_STRING:
            raise Malformed(f"a value is longer than {MAX_STRING} characters")
    elif isinstance(item, bool) or item is None:
        return
    elif isinstance(item, float):
        if not math.isfinite(item):
            raise Malformed("a number is not finite")
    elif isinstance(item, int) and abs(item) >= 10**MAX_INT_DIGITS:
        raise Malformed(f"a number has more than {MAX_INT_DIGITS} digits")


def unsafe_text(value: Any) -> str | None:
    """Why `value` (a string, or strings inside dicts/lists) cannot be stored as text, or None.

    PostgreSQL text refuses NUL, and a lone surrogate cannot be encoded as UTF-8. Such a value is
    never silently changed (an externId is a dedupe key): its record is refused with this reason.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "contains a NUL character (\\u0000), which cannot be stored"
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "contains a lone surrogate (invalid Unicode), which cannot be stored"
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return None
