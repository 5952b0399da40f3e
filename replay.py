"""Replay: re-queue dead/rejected/held leads, and re-map invalid ones with the current config."""

from __future__ import annotations

from handlers.base import Record
from prepare import prepare
from store import queue as queue_store


def replay(
    runtime,
    *,
    ids=(),
    status: str | None = None,
    source: str | None = None,
    since: float | None = None,
    until: float | None = None,
) -> dict[str, list]:
    """Re-queue or re-map the chosen leads; returns {"requeued": [...], "remapped": [...], "still_invalid": [...]}."""
    result = {"requeued": [], "remapped": [], "still_invalid": []}
    if status in (None, "dead", "rejected", "held"):
        result["requeued"] = runtime.queue.replay(ids=ids, status=status, source=source, since=since, until=until)
    if status in (None, "invalid"):
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
                result["remapped"].append({"id": row["id"], "status": "fetching"})
                continue
            item = prepare(configured, Record(key=None, fields=row["record"]), row["received_at"], check_events=False)
            new_status = queue_store.remap(runtime.engine, row["id"], item)
            if new_status == "invalid":
                result["still_invalid"].append({"id": row["id"], "reason": item.errors})
            else:
                result["remapped"].append({"id": row["id"], "status": new_status})
    runtime.waker.wake()
    return result
