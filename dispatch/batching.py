"""Grouping claimed leads into lead-loader calls: one campaign and set of load options per call."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import NamedTuple

from store.queue import ClaimedLead

DEFAULT_DESCRIPTION = "leadrelay {source} {date}"


class CallOptions(NamedTuple):
    """What every lead of one call shares: Engage takes these once per upload, not per lead."""

    campaign: str
    dial_priority: str
    duplicate_handling: str | None
    time_zone_option: str | None
    description: str


@dataclass
class Batch:
    """The leads of one lead-loader call and the options they share."""

    options: CallOptions
    leads: list[ClaimedLead]

    def split(self) -> tuple[Batch, Batch]:
        """Two halves with the same options (one bad row must not sink its batch-mates)."""
        half = len(self.leads) // 2
        return Batch(self.options, self.leads[:half]), Batch(self.options, self.leads[half:])


def description(template: str, source: str) -> str:
    """A stable list description per source and day (not a new list per call)."""
    return template.format(source=source, date=datetime.date.today().isoformat())


def call_options(lead: ClaimedLead, immediate_max_age: float, now: float) -> CallOptions:
    """The options `lead` is sent with; a hot lead older than `immediate_max_age` goes as NORMAL."""
    dial = lead.priority
    if dial == "IMMEDIATE" and now - lead.clock > immediate_max_age:
        dial = "NORMAL"  # stale hot leads must not jump ahead of fresh ones
    opts = lead.load_options
    return CallOptions(
        lead.campaign,
        dial,
        opts.get("duplicateHandling"),
        opts.get("timeZoneOption"),
        description(opts.get("description", DEFAULT_DESCRIPTION), lead.source),
    )


def group(claimed: list[ClaimedLead], immediate_max_age: float, now: float) -> list[Batch]:
    """Coalesce leads sharing campaign and load options; never two equal phones or externIds in one call."""
    # Engage de-duplicates within one upload, so two rows for one phone or externId would lose one.
    groups: dict[CallOptions, list[list[ClaimedLead]]] = {}
    for lead in claimed:
        options = call_options(lead, immediate_max_age, now)
        batches = groups.setdefault(options, [[]])
        for batch in batches:
            if all(b.extern_id != lead.extern_id and b.primary_phone != lead.primary_phone for b in batch):
                batch.append(lead)
                break
        else:
            batches.append([lead])
    return [Batch(options, batch) for options, batches in groups.items() for batch in batches if batch]
