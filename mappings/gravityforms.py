"""Gravity Forms entries → Engage leads, with per-form field maps.

Input ids are per form (a Name field's first name is `<field id>.3`, whatever the field id),
so the defaults fit a form built in the usual order — Name (1), Email (2), Phone (3),
Address (4) — and fall back to common "Select Fields" keys:

    externId   id, entry_id
    leadPhone  3, phone                     (primary first)
    firstName  1.3, first_name              lastName  1.6, last_name
    fullName   name                         (split only when neither first nor last name resolves)
    email      2, email                     zip       4.5, zip
    address1   4.1, address                 address2  4.2
    city       4.3, city                    state     4.4, state

Precedence, most specific first: the source's `forms: {<form_id>: {…}}` entry for the
entry's `form_id`, then the source's `fields:` (every form), then these defaults.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from handlers.base import resolve_path
from lead.fieldmap import merge_fields
from mappings.base import LeadMappingSchema

DEFAULT_FIELDS = {
    "externId": ["id", "entry_id"],
    "leadPhone": ["3", "phone"],
    "firstName": ["1.3", "first_name"],
    "lastName": ["1.6", "last_name"],
    "fullName": "name",
    "email": ["2", "email"],
    "zip": ["4.5", "zip"],
    "address1": ["4.1", "address"],
    "address2": "4.2",
    "city": ["4.3", "city"],
    "state": ["4.4", "state"],
}


class GravityFormsLeadSchema(LeadMappingSchema):
    """Lay the entry's per-form map over the merged map, then gather as usual."""

    # The field map is derived per record (and set on the instance), so each load needs its own schema.
    reusable = False

    def gather(self, data: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[str]]]:
        """Pick the `forms:` map for this entry's form id (if any) for this record only."""
        forms = self.source.options.get("forms") or {}
        form_id = resolve_path(data, "form_id")
        if isinstance(form_id, float) and form_id.is_integer():
            form_id = int(form_id)
        per_form = forms.get(str(form_id)) if form_id not in (None, "") else None
        if not per_form:
            return super().gather(data)
        base_map = self.field_map
        self.field_map = merge_fields(base_map, copy.deepcopy(per_form))
        try:
            return super().gather(data)
        finally:
            self.field_map = base_map


Schema = GravityFormsLeadSchema
