"""RingCX web-service records → dialer events (attempts): `DEFAULT_FIELDS`, `DialerEvent`, `map_dialer_event`.

Default field map (attempt attribute → the posted key; docs/sources/ringcx.md's template posts
each data element under its own name, `fields:` maps other names, dotted paths reach nested JSON):

    uii                 uii               the call's unique id
    kind                event             a literal in the template: which campaign event fired
    extern_id           extern_id         the lead's externId (tag unconfirmed)
    phone               ani               the customer's number
    campaign            campaign_id       (tag unconfirmed; matching falls back to externId alone)
    agent               agent_username    agent_id  agent_id
    disposition         agent_disposition (tag unconfirmed)
    system_disposition  system_disposition (tag unconfirmed)
    call_start          call_start        duration  duration      recording_url  recording_url
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from handlers.base import Record, SourceSettings
from lead.fieldmap import merge_fields
from lead.phones import parse_phone

DEFAULT_FIELDS: dict[str, Any] = {
    "uii": "uii",
    "kind": "event",
    "extern_id": "extern_id",
    "phone": "ani",
    "campaign": "campaign_id",
    "agent": "agent_username",
    "agent_id": "agent_id",
    "disposition": "agent_disposition",
    "system_disposition": "system_disposition",
    "call_start": "call_start",
    "duration": "duration",
    "recording_url": "recording_url",
}
ATTRIBUTES = tuple(DEFAULT_FIELDS)

# A tag RingCX left in place (an element it does not fill for this event) is no value at all.
_UNFILLED = re.compile(r"^#[A-Za-z0-9_]+#$")
# System dispositions that say a person answered (RingCX's outbound system dispositions).
ANSWERED = frozenset({"ANSWER"})
_TEXT_MAX = {"uii": 100, "agent_id": 100, "system_disposition": 100, "phone": 32, "kind": 50}


@dataclass(frozen=True)
class DialerEvent:
    """One dialer event as leadrelay records it: what RingCX said about one call segment."""

    key: str
    uii: str | None = None
    kind: str | None = None
    extern_id: str | None = None
    phone: str | None = None  # dialable form (10 NANP digits or E.164), as leads.primary_phone
    campaign: str | None = None
    agent: str | None = None
    agent_id: str | None = None
    disposition: str | None = None
    system_disposition: str | None = None
    call_start: str | None = None
    duration: int | None = None
    recording_url: str | None = None

    @property
    def connected(self) -> bool:
        """Whether a person was reached: RingCX says ANSWER, or an agent handled (dispositioned) the call."""
        if self.system_disposition is not None:
            return self.system_disposition.upper() in ANSWERED
        return bool(self.agent or self.agent_id) and self.disposition is not None


def _value(record: Record, spec: Any) -> str | None:
    """The first non-empty text among the spec's paths; unfilled `#tag#` placeholders are absent."""
    for path in spec if isinstance(spec, list) else [spec]:
        value = record.get(str(path))
        if isinstance(value, list):
            value = value[0] if value else None
        if value is None or isinstance(value, (dict, bool)):
            continue
        text = str(value).strip()
        if text and not _UNFILLED.match(text):
            return text
    return None


def parse_duration(text: str | None) -> int | None:
    """Seconds from `125`, `125.4` or `HH:MM:SS`/`MM:SS`; None when it is neither."""
    if text is None:
        return None
    try:
        if ":" in text:
            seconds = 0
            for part in text.split(":"):
                seconds = seconds * 60 + int(part)
            return seconds
        return round(float(text))
    except ValueError:
        return None


def _phone(text: str | None, region: str) -> str | None:
    """The number in the form leads store their primary phone, or the digits as sent when unparseable."""
    if text is None:
        return None
    parsed = parse_phone(text, region)
    return parsed[0] if parsed else text[:32]


def field_map(source: SourceSettings) -> dict[str, Any]:
    """The source's `fields:` over the defaults (attribute → posted key or keys)."""
    return merge_fields(DEFAULT_FIELDS, source.fields)


def map_dialer_event(source: SourceSettings, record: Record) -> DialerEvent:
    """Read one record into a DialerEvent; every attribute is optional, nothing is refused."""
    mapping = field_map(source)
    values = {name: _value(record, spec) for name, spec in mapping.items() if name in ATTRIBUTES}
    for name, limit in _TEXT_MAX.items():
        if values.get(name) is not None:
            values[name] = str(values[name])[:limit]
    values["phone"] = _phone(values.get("phone"), source.default_region)
    duration = parse_duration(values.pop("duration", None))
    if values.get("uii"):
        # One event per call segment: a transfer gives the same call a second agent's segment.
        parts = [values["uii"] or "", values.get("kind") or "", values.get("agent_id") or values.get("agent") or ""]
        key = "u:" + ":".join(parts)
    else:
        digest = hashlib.sha256(json.dumps(record.fields, sort_keys=True, default=str).encode()).hexdigest()
        key = f"h:{digest}"
    return DialerEvent(key=key[:200], duration=duration, **values)
