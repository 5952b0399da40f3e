"""The write-back job's payload: the lead and the attempt as they were when the attempt was recorded."""

from __future__ import annotations

from typing import Any, TypedDict


class LeadPart(TypedDict):
    """What the CRM needs to find its record."""

    lead_id: int
    externId: str | None
    phone: str | None
    source: str
    campaign: str | None


class AttemptPart(TypedDict):
    """One dialer event's facts (call_start as RingCX sent it; attempt_at is leadrelay's receipt time)."""

    attempt_id: int
    uii: str | None
    disposition: str | None
    system_disposition: str | None
    call_start: str | None
    duration: int | None
    agent: str | None
    recording_url: str | None
    attempt_at: float
    connected: bool
    final: bool


class Payload(TypedDict):
    """A `writeback.*` job's payload (JSON in the outbox)."""

    lead: LeadPart
    attempt: AttemptPart
    lead_ids: list[int]  # the outbox shows each job step on these leads' timelines


def external_id(payload: Payload) -> str:
    """The id leadrelay sets on what it writes, so a retry after an unknown fate finds it again."""
    return f"leadrelay-attempt-{payload['attempt']['attempt_id']}"


def outcome_text(payload: Payload) -> str:
    """The call's outcome in words: the agent's disposition, else RingCX's system disposition."""
    attempt = payload["attempt"]
    return attempt["disposition"] or attempt["system_disposition"] or "no disposition"


def summary(payload: Payload) -> str:
    """A plain-text description for the CRM's activity body."""
    attempt = payload["attempt"]
    lines = [
        f"Outcome: {outcome_text(payload)}",
        f"System disposition: {attempt['system_disposition'] or '-'}",
        f"Agent: {attempt['agent'] or '-'}",
        f"Call start (RingCX): {attempt['call_start'] or '-'}",
        f"Duration: {attempt['duration'] if attempt['duration'] is not None else '-'} s",
        f"RingCX call id (uii): {attempt['uii'] or '-'}",
    ]
    if https(attempt["recording_url"]):
        lines.append(f"Recording: {attempt['recording_url']}")
    lines.append(f"Logged by leadrelay ({external_id(payload)})")
    return "\n".join(lines)


def https(url: Any) -> bool:
    """Whether a link may be shown or passed on as a link (https only; anything else stays text)."""
    return isinstance(url, str) and url.lower().startswith("https://")
