"""Phone normalization for Engage: NANP numbers as 10 digits, others E.164, via phonenumbers."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat

NANP_COUNTRY_CODE = 1


@dataclass
class PhoneSet:
    """Dialable numbers in order (primary first) plus what was set aside on the way."""

    numbers: list[str] = field(default_factory=list)
    extensions: dict[str, str] = field(default_factory=dict)  # dialable number → extension
    primary_e164: str | None = None
    invalid: list[str] = field(default_factory=list)  # values given that are not numbers
    e164: list[str] = field(default_factory=list)  # every number of `numbers` in E.164, same order


def _flat(values: Any) -> Iterable[Any]:
    """Yield scalar values from a value that may be a list (of lists)."""
    if isinstance(values, (list, tuple)):
        for value in values:
            yield from _flat(value)
    else:
        yield values


def _text(value: Any) -> str | None:
    """A phone value as text: JSON numbers included, booleans and blanks refused."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # 15550000000.0 from a lenient JSON encoder
    text = str(value).strip()
    return text or None


def _nanp_plausible(national: str) -> bool:
    """Ten digits whose area code starts with 2-9; no NANP area code starts with 0 or 1."""
    # The exchange is not checked: senders' test data (555-000-0000) would be refused.
    return len(national) == 10 and national[0] not in "01"


def parse_phone(value: str, region: str = "US") -> tuple[str, str | None, str] | None:
    """Return (dialable, extension, e164) for one number, or None when it cannot be dialed."""
    try:
        number = phonenumbers.parse(value, region)
    except NumberParseException:
        return None
    # Possible, not valid: validity tables reject reserved test ranges (555) that real
    # CRMs hold, and they lag new allocations; the dialer is the final judge.
    if not phonenumbers.is_possible_number(number):
        return None
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    if number.country_code == NANP_COUNTRY_CODE:
        national = str(number.national_number)
        if not _nanp_plausible(national):
            return None
        return national, number.extension or None, e164
    return e164, number.extension or None, e164


def normalize_phones(values: Any, region: str = "US") -> PhoneSet:
    """Normalize several phone values (each may be a list) into a deduplicated PhoneSet."""
    result = PhoneSet()
    for raw in _flat(values):
        text = _text(raw)
        if text is None:
            continue
        parsed = parse_phone(text, region or "US")
        if parsed is None:
            result.invalid.append(text)
            continue
        dialable, extension, e164 = parsed
        if dialable in result.numbers:
            # Same number again (e.g. phone and mobilephone equal): keep the first, but
            # do not lose an extension only the later copy carried.
            if extension and dialable not in result.extensions:
                result.extensions[dialable] = extension
            continue
        result.numbers.append(dialable)
        result.e164.append(e164)
        if extension:
            result.extensions[dialable] = extension
        if result.primary_e164 is None:
            result.primary_e164 = e164
    return result


def to_e164(value: Any, region: str = "US") -> str | None:
    """One phone value in E.164 (the do-not-call list's form), or None when it is not a number."""
    text = _text(value)
    parsed = parse_phone(text, region or "US") if text else None
    return parsed[2] if parsed else None


def is_dialable(number: str) -> bool:
    """Whether a string is in the form Engage takes: 10 NANP digits or E.164."""
    digits = number[1:] if number.startswith("+") else number
    if not (digits.isascii() and digits.isdigit()):
        return False
    if number.startswith("+"):
        return 6 <= len(digits) <= 15 and digits[0] != "0"
    return len(digits) == 10
