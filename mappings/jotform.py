"""Jotform submissions → Engage leads; the default map finds questions by their name suffix.

Jotform keys answers `q<N>_<name>` and the question number differs per form, so the default
map uses suffix patterns: `*_name` matches any key whose last `_`-part is `name` (optionally
followed by digits: `q3_name`, `q12_name12`; case-insensitive; not `q9_companyName`). When
several questions match, the lowest question number comes first (the primary phone). A
pattern without a sub-path never matches an object (`*_phone` skips `{full}`; `*_phone.full`
reads it). A `{area, phone}` phone (older widget) gets its `full` composed here, so
`q5_phoneNumber.full` works for both shapes. Patterns work in `fields:` too, but exact keys
(`leadPhone: q5_phoneNumber.full`) are preferred: they cannot pick the wrong question.

Default field map:

    externId   submissionID
    leadPhone  *_phoneNumber.full, *_phone.full, *_phoneNumber, *_phone   (primary first)
    firstName  *_name.first       midName *_name.middle     lastName *_name.last
    suffix     *_name.suffix      fullName *_fullName, *_name  (split only when no first/last)
    email      *_email
    address1   *_address.addr_line1     address2 *_address.addr_line2
    city       *_address.city     state   *_address.state   zip *_address.postal, *_zip, *_zipCode
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from mappings.base import LeadMappingSchema

WILDCARD = "*_"
_QUESTION = re.compile(r"^q(\d+)_", re.IGNORECASE)

DEFAULT_FIELDS = {
    "externId": "submissionID",
    "leadPhone": ["*_phoneNumber.full", "*_phone.full", "*_phoneNumber", "*_phone"],
    "firstName": "*_name.first",
    "midName": "*_name.middle",
    "lastName": "*_name.last",
    "suffix": "*_name.suffix",
    "fullName": ["*_fullName", "*_name"],
    "email": "*_email",
    "address1": "*_address.addr_line1",
    "address2": "*_address.addr_line2",
    "city": "*_address.city",
    "state": "*_address.state",
    "zip": ["*_address.postal", "*_zip", "*_zipCode"],
}


def _question_order(key: str, position: int) -> tuple[int, int]:
    """Sort key: question number first (unnumbered keys last), then order of appearance."""
    match = _QUESTION.match(key)
    return (int(match.group(1)) if match else 1 << 30, position)


def expand(spec: str, data: Mapping[str, Any]) -> list[str]:
    """Concrete paths for one spec: `*_stem[.sub.path]` → every matching key; others unchanged."""
    if not spec.startswith(WILDCARD):
        return [spec]
    stem, _, rest = spec[len(WILDCARD) :].partition(".")
    pattern = re.compile(rf"^.+_{re.escape(stem)}\d*$", re.IGNORECASE)
    matches = [(k, i) for i, k in enumerate(data) if isinstance(k, str) and pattern.match(k)]
    keys = [k for k, i in sorted(matches, key=lambda m: _question_order(*m))]
    paths = []
    for key in keys:
        if rest:
            paths.append(f"{key}.{rest}")
        elif not isinstance(data[key], (dict, list)):
            paths.append(key)
    # An unmatched pattern stays, so an error message names what was looked for.
    return paths or [spec]


def expand_map(field_map: Mapping[str, Any], data: Mapping[str, Any]) -> dict[str, Any]:
    """The field map with every pattern replaced by the record's matching keys."""

    def one(spec: Any) -> Any:
        """Expand a string or a list of specs (other shapes are left for config check)."""
        if isinstance(spec, str):
            found = expand(spec, data)
            return found[0] if len(found) == 1 else found
        if isinstance(spec, list):
            return [path for item in spec if isinstance(item, str) for path in expand(item, data)]
        return spec

    out = {}
    for key, spec in field_map.items():
        out[key] = {k: one(v) for k, v in spec.items()} if isinstance(spec, Mapping) else one(spec)
    return out


def with_full_phones(data: Mapping[str, Any]) -> dict[str, Any]:
    """A view of the record where every `{area, phone}` object also has `full`."""
    view = dict(data)
    for key, value in data.items():
        if (
            isinstance(value, dict)
            and not str(value.get("full") or "").strip()
            and str(value.get("phone") or "").strip()
        ):
            area = str(value.get("area") or "").strip()
            view[key] = {**value, "full": f"({area}) {value['phone']}".strip() if area else str(value["phone"]).strip()}
    return view


class JotformLeadSchema(LeadMappingSchema):
    """The shared gathering over a view with composed phones and the patterns expanded."""

    # The field map is derived per record (and set on the instance), so each load needs its own schema.
    reusable = False

    def gather(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """Expand the field map against this record, then gather as usual."""
        view = with_full_phones(data)
        self.field_map = expand_map(self.field_map, view)
        return super().gather(view)


Schema = JotformLeadSchema
