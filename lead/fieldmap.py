"""Field maps (Engage lead field → sender paths): merging a source's `fields` and checking them."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from lead.schema import LEAD_FIELDS

# Keys a field map may hold besides the lead's own fields.
PSEUDO_FIELDS = ("fullName",)


def merge_fields(defaults: Mapping[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """A source's `fields` over its type's defaults, key by key (None unmaps a default)."""
    merged = copy.deepcopy(dict(defaults))
    merged.update(copy.deepcopy(dict(overrides or {})))
    return {key: spec for key, spec in merged.items() if spec is not None}


def check_field_map(field_map: Mapping[str, Any]) -> list[str]:
    """Problems in a `fields:` mapping, for config checks (empty when it is fine)."""
    problems = []
    for key, spec in field_map.items():
        if key not in LEAD_FIELDS and key not in PSEUDO_FIELDS:
            problems.append(f"{key}: not an Engage lead field")
        elif key == "extendedLeadData":
            if not isinstance(spec, Mapping) or not all(isinstance(v, (str, list)) for v in spec.values()):
                problems.append("extendedLeadData: must map Engage keys to sender fields")
        elif spec is not None and not (
            isinstance(spec, str) or (isinstance(spec, list) and all(isinstance(s, str) for s in spec))
        ):
            problems.append(f"{key}: must be a field name, a dotted path or a list of them")
    return problems
