"""Replay: re-queue dead/rejected/held/blocked leads, and re-map invalid ones with the current config."""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any, TypedDict

from handlers.base import Record
from lead.lifecycle import REQUEUED_BY_REPLAY, LeadStatus
from prepare import prepare
from store import queue as queue_store

if TYPE_CHECKING:
    from runtime import Runtime


class ReplayResult(TypedDict):
    """What a replay did: re-queued ids, re-mapped leads ({id, status}), still-invalid leads ({id, reason})."""

    requeued: list[int]
    remapped: list[dict[str, Any]]
    still_invalid: list[dict[str, Any]]


def replay(
    runtime: Runtime,
    *,
    ids: Collection[int] = (),  # read twice (re-queue, then re-map): not a one-shot iterator
    status: str | None = None,
    source: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> ReplayResult:
    """Re-queue or re-map the chosen leads; returns {"requeued": [...], "remapped": [...], "still_invalid": [...]}."""
    result: ReplayResult = {"requeued": [], "remapped": [], "still_invalid": []}
    if status is None or status in REQUEUED_BY_REPLAY:
        result["requeued"] = runtime.queue.replay(ids=ids, status=status, source=source, since=since, until=until)
    if status in (None, LeadStatus.INVALID):
        sources = runtime.settings.file.sources
        for row in queue_store.invalid_leads(runtime.engine, ids=ids, source=source, since=since, until=until):
            configured = sources.get(row["source"])
            if configured is None:
                result["still_invalid"].append(
                    {"id": row["id"], "reason": f"source {row['source']!r} is not configured"}
                )
                continue
            if row["fetch"] is not None:
                # An id-only record whose fetch failed (e.g. a revoked token): fetch it again.
                queue_store.refetch(runtime.engine, row["id"])
                result["remapped"].append({"id": row["id"], "status": LeadStatus.FETCHING})
                continue
            item = prepare(configured, Record(key=None, fields=row["record"]), row["received_at"], check_events=False)
            new_status = queue_store.remap(runtime.engine, row["id"], item)
            if new_status == LeadStatus.INVALID:
                result["still_invalid"].append({"id": row["id"], "reason": item.errors})
            else:
                result["remapped"].append({"id": row["id"], "status": new_status})
    runtime.waker.wake()
    return result
