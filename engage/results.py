"""Reading a lead loader answer: which sent leads were accepted and which rows were rejected."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

GENERAL_FAILURE = "GENERAL_FAILURE"
NO_LEADS_PASSED = "NO_LEADS_PASSED_VALIDATION"


@dataclass
class LoadResult:
    """Outcome of one leadLoader/direct call that Engage answered with a 2xx."""

    accepted_extern_ids: list[str]
    rejected: dict[str, str]
    general_failure: bool
    raw: dict[str, Any] | None
    status: int
    elapsed: float = 0.0
    unmatched_rejections: list[dict[str, Any]] = field(default_factory=list)
    processing_status: str | None = None
    processing_result: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing needs a retry (rows may still have been rejected)."""
        return not self.general_failure


def _row_values(row: dict[str, Any]) -> list[str]:
    """The rowData of a rejected row as strings (Engage documents string[])."""
    data = row.get("rowData")
    if isinstance(data, (list, tuple)):
        return ["" if v is None else str(v) for v in data]
    if isinstance(data, str):
        return [data]
    return []


def match_rejections(sent_ids: list[str], rows: list[Any]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """Map each rejected row to the sent externId found among its rowData values."""
    pending = set(sent_ids)
    rejected: dict[str, str] = {}
    unmatched: list[dict[str, Any]] = []
    for row in rows:
        row = row if isinstance(row, dict) else {"rowData": row}
        values = _row_values(row)
        message = str(row.get("message") or "rejected by Engage")
        # The first value that is a still-unmatched externId wins (rowData usually starts with it).
        hit = next((v for v in values if v in pending), None)
        if hit is not None:
            pending.discard(hit)
            rejected[hit] = message
        elif not any(v in rejected for v in values):  # a second row about an already rejected lead
            unmatched.append({"message": message, "rowData": values})
    return rejected, unmatched


def parse_load_result(status: int, body: Any, leads: list[dict[str, Any]]) -> LoadResult:
    """Build a LoadResult from a 2xx answer; an empty or non-JSON body means all accepted."""
    sent_ids = [str(lead["externId"]) for lead in leads if lead.get("externId") is not None]
    if not isinstance(body, dict):
        return LoadResult(list(sent_ids), {}, False, None, status)
    rows = body.get("rejectedRows") or []
    pstatus = body.get("processingStatus")
    presult = body.get("processingResult")
    if pstatus == GENERAL_FAILURE and not rows:
        # Nothing was loaded and no row is to blame: the caller retries the whole batch.
        return LoadResult([], {}, True, body, status, processing_status=pstatus, processing_result=presult)
    rejected, unmatched = match_rejections(sent_ids, rows if isinstance(rows, list) else [])
    rest = [i for i in sent_ids if i not in rejected]
    if pstatus == NO_LEADS_PASSED and rest:
        # Engage says none passed: marking the unreported ones delivered would hide a lost lead.
        for extern_id in rest:
            rejected[extern_id] = "no leads passed validation (no row reported for this lead)"
        rest = []
    return LoadResult(
        rest,
        rejected,
        False,
        body,
        status,
        unmatched_rejections=unmatched,
        processing_status=pstatus,
        processing_result=presult,
    )
