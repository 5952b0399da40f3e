"""HubSpot workflow bodies that each become a new lead (new vid, new lastmodifieddate, new phone)."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

FIXTURE = Path(__file__).resolve().parent.parent / "tests" / "data" / "hubspot" / "workflow_contact_all_properties.json"
HOT_SCORE, COLD_SCORE = "91", "35"  # the bench config routes hubspotscore >= 80 to IMMEDIATE


def _template() -> dict:
    """The fixture, with the properties that would route it IMMEDIATE regardless of score neutralised."""
    body = json.loads(FIXTURE.read_text())
    # The example config also routes sales-qualified leads IMMEDIATE; keep routing on score alone.
    body["properties"]["lifecyclestage"]["value"] = "lead"
    return body


def phone_number(n: int) -> str:
    """A distinct, valid-looking US number per lead (the dispatcher never batches equal phones together)."""
    return f"720{200 + (n // 10000) % 800:03d}{n % 10000:04d}"


class BodyFactory:
    """Makes serialized bodies; vids start from a per-run base so every body is a new record."""

    def __init__(self, base_vid: int | None = None) -> None:
        """Load the fixture once; `base_vid` defaults to a time-derived number."""
        self.template = _template()
        self.base_vid = base_vid if base_vid is not None else 60_000_000 + int(time.time() * 10) % 30_000_000
        self.modified_ms = int(time.time() * 1000)

    def body(self, n: int, hot: bool) -> tuple[str, bytes]:
        """(externId, JSON bytes) for lead number `n`; `hot` routes it IMMEDIATE."""
        vid = self.base_vid + n
        body = copy.deepcopy(self.template)
        body["vid"] = body["canonical-vid"] = vid
        props = body["properties"]
        props["hs_object_id"]["value"] = str(vid)
        # vid + lastmodifieddate is the idempotency key: both change, so no request is a duplicate.
        props["lastmodifieddate"]["value"] = str(self.modified_ms + n)
        props["hubspotscore"]["value"] = HOT_SCORE if hot else COLD_SCORE
        props["phone"]["value"] = phone_number(n)
        props["mobilephone"]["value"] = phone_number(n + 5000)
        return str(vid), json.dumps(body, separators=(",", ":")).encode()

    def batch(self, start: int, count: int, hot_every: int | None) -> list[tuple[str, bytes]]:
        """`count` bodies from number `start`; every `hot_every`-th is hot (None: all hot)."""
        return [self.body(n, hot=hot_every is None or n % hot_every == 0) for n in range(start, start + count)]
