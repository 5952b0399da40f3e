"""Operator actions (replay a lead, release a hold), each recorded in the audit log."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lead.lifecycle import REPLAYABLE, ordered
from store import audit

if TYPE_CHECKING:
    from runtime import Runtime


class ReplayRefused(Exception):
    """A replay that cannot happen, with the HTTP status and error code to answer."""

    def __init__(self, http_status: int, code: str, **extra: Any) -> None:
        """Keep the answer's parts."""
        super().__init__(code)
        self.http_status, self.code, self.extra = http_status, code, extra


def replay_one(runtime: Runtime, lead_id: int, actor: str) -> str:
    """Replay one lead (re-queue, or re-map an invalid one); record who did it; return its new status."""
    from replay import replay

    lead = runtime.queue.get(lead_id)
    if lead is None:
        raise ReplayRefused(404, "not_found", detail=f"no lead {lead_id}")
    if lead["status"] not in REPLAYABLE:
        raise ReplayRefused(
            409,
            "not_replayable",
            status=lead["status"],
            detail=f"only {', '.join(ordered(REPLAYABLE))} leads can be replayed",
        )
    result = replay(runtime, ids=[lead_id], status=lead["status"])
    if result["still_invalid"]:
        raise ReplayRefused(422, "still_invalid", detail=result["still_invalid"][0]["reason"])
    after = runtime.queue.get(lead_id)
    assert after is not None  # a replay never deletes a lead
    status: str = after["status"]
    audit.record_action(runtime.engine, "replay", actor, [lead_id], {"from": lead["status"], "to": status})
    runtime.waker.wake()
    return status


def release_hold(runtime: Runtime, scope: str, actor: str) -> int:
    """Put one hold's leads back in the queue (`account` or `campaign:<name>`); returns how many."""
    from store.operator import release_held

    ids = release_held(runtime.engine, scope)
    # One audit row per lead (capped: a long account outage can hold a whole day's leads).
    recorded: list[int | None] = list(ids[:10000]) or [None]
    audit.record_action(runtime.engine, "release", actor, recorded, {"scope": scope, "leads": len(ids)})
    runtime.waker.wake()
    return len(ids)
