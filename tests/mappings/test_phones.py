"""Tests for phone normalization (lead/phones.py)."""

import pytest

from lead.phones import is_dialable, normalize_phones


@pytest.mark.parametrize(
    "value,number,extension",
    [
        ("(303) 555-0142 ext. 12", "3035550142", "12"),
        ("303-555-0142 x7", "3035550142", "7"),
        ("+1 303 555 0142", "3035550142", None),
        ("303.555.0142", "3035550142", None),
        ("3035550142", "3035550142", None),
        ("1-303-555-0142", "3035550142", None),
        (15550000000, "5550000000", None),
        (3035550142.0, "3035550142", None),
        ("+44 (0)20 7946 0958", "+442079460958", None),
        ("+81 3-1234-5678", "+81312345678", None),
        ("011 44 20 7946 0958", "+442079460958", None),
        ("  +17205550117 ", "7205550117", None),
    ],
)
def test_phone_table(value, number, extension):
    """NANP → 10 digits, others E.164; the extension is set aside."""
    found = normalize_phones([value])
    assert found.numbers == [number] and found.invalid == []
    assert found.extensions == ({number: extension} if extension else {})


@pytest.mark.parametrize("value", ["n/a", "12345", "1234567890", "0035550142", "+999 123", "call me"])
def test_impossible_numbers_are_skipped(value):
    """Unparseable or impossible numbers are listed in `invalid`, never dialed."""
    found = normalize_phones([value])
    assert found.numbers == [] and found.invalid == [value] and found.primary_e164 is None


@pytest.mark.parametrize("value", ["", "   ", None, True, [], [None, ""]])
def test_blanks_are_ignored(value):
    """Empty values are neither numbers nor invalid."""
    found = normalize_phones([value])
    assert found.numbers == [] and found.invalid == []


def test_lists_dedupe_and_order():
    """Nested lists flatten; duplicates go, order stays, the primary is the first."""
    found = normalize_phones([["303-555-0142", "+44 20 7946 0958"], "(303) 555-0142", "720.555.0117", "bogus"])
    assert found.numbers == ["3035550142", "+442079460958", "7205550117"]
    assert found.primary_e164 == "+13035550142" and found.invalid == ["bogus"]


def test_duplicate_keeps_later_extension():
    """A duplicate without an extension first, with one later: the extension is kept."""
    found = normalize_phones(["3035550142", "303 555 0142 ext 9"])
    assert found.numbers == ["3035550142"] and found.extensions == {"3035550142": "9"}


def test_default_region():
    """Numbers without a country code are read in the source's region."""
    found = normalize_phones(["020 7946 0958"], region="GB")
    assert found.numbers == ["+442079460958"] and found.primary_e164 == "+442079460958"


@pytest.mark.parametrize(
    "value,ok",
    [
        ("3035550142", True),
        ("+442079460958", True),
        ("303555014", False),
        ("+0123456789", False),
        ("+12", False),
        ("303555014２", False),
        ("(303)5550142", False),
    ],
)
def test_is_dialable(value, ok):
    """The outbound format: 10 ASCII digits or E.164."""
    assert is_dialable(value) is ok
