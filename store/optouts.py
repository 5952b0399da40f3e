"""What an opt-out, a cancel or a privacy deletion does, in ONE transaction with what caused it.

The console, the admin API, the CLI and intake's lifecycle rules all come here, so a number put
on the list by any channel has the same effects (docs/operations.md, "When someone asks not to
be called"):

- an opt-out: the record's own pending leads become `opted_out` (never loaded); its numbers (and
  the numbers of its leads) go on the do-not-call list; other pending leads with any of those
  numbers become `blocked` (do_not_call); an `engage.dnc_add` job carries the numbers to Engage's
  internal list, and an `engage.lead_action` CANCEL_LEADS job stops the record's leads Engage has;
- a cancel: the record's own pending leads become `cancelled`, the loaded ones are cancelled in
  Engage the same way;
- a privacy deletion (erase): a cancel, then the record's personal data in leadrelay is erased
  (lead, record, phone, Engage's answer, raw bodies) and DELETE_LEADS removes the lead in Engage;
  the do-not-call entry stays (the law requires the record of the request).

Every job is enqueued in the caller's transaction (store/outbox.py), so the event, the status
changes, the list entry and the jobs commit together or not at all. Each touched lead gets a row
on its timeline (audit_log, actor `event:<id>`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection, Engine

from lead.lifecycle import PENDING, LeadReason, LeadStatus, sql_list
from store import dnc, outbox
from store.db import write
from store.schema import audit_log

# A lead whose call is in flight (`sending`) may still be accepted after the opt-out: its lead
# action is sent once that call must have ended (the loader's call timeout, 30 s, and a margin).
SENDING_GRACE = 60.0
LOADED = (LeadStatus.DELIVERED,)
ERASED_NOTE = "personal data erased (privacy deletion)"
_PENDING_SQL = sql_list(PENDING)


@dataclass(frozen=True)
class Effect:
    """A lifecycle rule's verdict on one record, with who it is about."""

    opt_out: bool
    cancel: bool
    erase: bool
    extern_id: str | None
    phones: tuple[str, ...]  # E.164
    rule: str  # e.g. "opt_out_when[0]", for the list's reason and the timeline

    @property
    def status(self) -> LeadStatus:
        """The status the record's own pending leads (and its own row) take."""
        return LeadStatus.OPTED_OUT if self.opt_out else LeadStatus.CANCELLED


@dataclass
class Applied:
    """What one effect did (ids of leads, numbers, jobs)."""

    own: list[int] = field(default_factory=list)  # the record's pending leads, now opted_out/cancelled
    stopped: list[int] = field(default_factory=list)  # its loaded leads, stopped in Engage by a lead action
    blocked: list[int] = field(default_factory=list)  # other pending leads with a listed number
    listed: list[str] = field(default_factory=list)  # numbers new on the do-not-call list
    erased: list[int] = field(default_factory=list)
    jobs: list[int] = field(default_factory=list)


_OWN = text(
    "SELECT id, status, campaign, lead, primary_phone, event_id FROM leads "
    "WHERE source = :source AND extern_id = :extern AND id != :self ORDER BY id"
)
_SET_STATUS = text(
    "UPDATE leads SET status = :status, status_reason = :reason, updated_at = :now "
    "WHERE id IN :ids AND status IN :from_ RETURNING id"
).bindparams(bindparam("ids", expanding=True), bindparam("from_", expanding=True))
_PENDING_WITH = text(
    f"SELECT id, lead, primary_phone FROM leads WHERE status IN ({_PENDING_SQL}) "
    "AND (primary_phone IN :dialable OR lead LIKE :like0 OR lead LIKE :like1 OR lead LIKE :like2)"
).bindparams(bindparam("dialable", expanding=True))
_ERASE = text(
    "UPDATE leads SET lead = NULL, record = NULL, primary_phone = NULL, engage_response = NULL, errors = NULL, "
    "last_error = :note, updated_at = :now WHERE id IN :ids"
).bindparams(bindparam("ids", expanding=True))
_ERASE_BODIES = text("UPDATE events SET body = NULL, headers = NULL WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)


def dialable(e164: str) -> str:
    """The form leads are stored and loaded with: NANP as 10 digits, others E.164 (lead/phones.py)."""
    return e164[2:] if e164.startswith("+1") and len(e164) == 12 else e164


def apply(
    conn: Connection,
    effect: Effect,
    *,
    source: str,
    event_id: int,
    lead_id: int | None,
    now: float,
) -> Applied:
    """Apply one record's effect inside the caller's transaction (the event and its row are already in)."""
    done = Applied()
    actor = f"event:{event_id}"
    own = _own_leads(conn, source, effect.extern_id, lead_id)
    # An opt-out also takes a blocked lead (it is the person's now); a cancel leaves it blocked.
    movable = PENDING | {LeadStatus.BLOCKED} if effect.opt_out else PENDING
    pending = [r for r in own if r["status"] in movable]
    done.own = _set_status(conn, [r["id"] for r in pending], effect.status, None, movable, now)
    loaded = [r for r in own if r["status"] in LOADED]
    done.stopped = _set_status(conn, [r["id"] for r in loaded], effect.status, None, set(LOADED), now)
    # A lead the dialer finished (`done`) keeps its outcome, but an opt-out is still the person's
    # last word on it, and a privacy deletion removes it from Engage too.
    finished = [r for r in own if r["status"] == LeadStatus.DONE]
    if effect.opt_out:
        done.stopped += _set_status(conn, [r["id"] for r in finished], effect.status, None, {LeadStatus.DONE}, now)
    # A claim may have taken a pending lead between the read and the update (PostgreSQL's read
    # committed): it is in flight now, and is stopped in Engage like the others in flight.
    missed = {r["id"] for r in pending} - set(done.own)
    in_flight = [r for r in own if r["status"] == LeadStatus.SENDING or r["id"] in missed]

    numbers = list(
        dict.fromkeys([*effect.phones, *(p for r in own for p in dnc.lead_numbers(r["lead"], r["primary_phone"]))])
    )
    if effect.opt_out and numbers:
        reason = f"opt-out from {source} ({effect.rule})"
        done.listed = dnc.add(conn, numbers, reason=reason, source=source, added_by=actor, now=now)
        done.blocked = block_pending(conn, numbers, now, exclude=set(done.own))
        done.jobs.append(
            outbox.enqueue(
                conn,
                outbox.ENGAGE_DNC_ADD,
                f"dnc_add:event:{event_id}:{lead_id}",
                {"phones": numbers, "reason": reason, "lead_ids": [i for i in [lead_id, *done.own] if i]},
                priority=outbox.PRIORITY_LIVE,
                now=now,
            )
        )
    action = "DELETE_LEADS" if effect.erase else "CANCEL_LEADS"
    acted = loaded + (finished if effect.erase else [])
    for rows, suffix, delay in ((acted, "", 0.0), (in_flight, ":in_flight", SENDING_GRACE)):
        if effect.extern_id and rows:
            done.jobs.append(
                outbox.enqueue(
                    conn,
                    outbox.ENGAGE_LEAD_ACTION,
                    f"lead_action:event:{event_id}:{lead_id}{suffix}",
                    lead_action_payload(action, effect.extern_id, rows),
                    priority=outbox.PRIORITY_LIVE,
                    now=now,
                    delay=delay,
                )
            )
    if effect.erase:
        done.erased = [r["id"] for r in own]
        erase(conn, done.erased, [r["event_id"] for r in own], now)
    _timeline(conn, effect, done, [r["id"] for r in acted + in_flight], lead_id, actor, now)
    return done


def lead_action_payload(action: str, extern_id: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A lead action's criteria: the externId, the campaigns and the numbers the leads were loaded with."""
    phones: list[str] = []
    for row in rows:
        lead = row["lead"] or {}
        phones += [p for p in str(lead.get("leadPhone") or "").split("|") if p]
    return {
        "action": action,
        "extern_ids": [extern_id],
        "campaigns": sorted({str(r["campaign"]) for r in rows if r["campaign"] is not None}),
        "phones": list(dict.fromkeys(phones)),
        "lead_ids": [r["id"] for r in rows],
    }


def _own_leads(conn: Connection, source: str, extern_id: str | None, self_id: int | None) -> list[dict[str, Any]]:
    """The record's other leads from this source (same externId), their stored lead parsed."""
    if not extern_id:
        return []
    rows = conn.execute(_OWN, {"source": source, "extern": extern_id, "self": self_id or 0}).mappings()
    return [{**dict(r), "lead": json.loads(r["lead"]) if r["lead"] else None} for r in rows]


def _set_status(
    conn: Connection,
    ids: list[int],
    status: LeadStatus,
    reason: LeadReason | None,
    from_: Iterable[LeadStatus],
    now: float,
) -> list[int]:
    """Move these leads to `status` if they are still in one of `from_` (a claim may have taken one)."""
    if not ids:
        return []
    params = {"ids": ids, "from_": [str(s) for s in from_], "status": str(status), "now": now}
    return [int(r[0]) for r in conn.execute(_SET_STATUS, {**params, "reason": reason and str(reason)})]


def block_pending(conn: Connection, numbers: list[str], now: float, exclude: set[int] | None = None) -> list[int]:
    """Block (do_not_call) every pending lead with any of these E.164 numbers; return their ids.

    Candidates come by the primary phone or a text match on the stored lead, and are confirmed
    by parsing every number of the lead, so a lead is blocked when ANY of its numbers is listed.
    """
    wanted = set(numbers)
    found: list[int] = []
    for chunk in _chunks([dialable(n) for n in numbers], 3):
        likes = {f"like{i}": f"%{chunk[i] if i < len(chunk) else chunk[0]}%" for i in range(3)}
        for row in conn.execute(_PENDING_WITH, {"dialable": chunk, **likes}).mappings():
            lead = json.loads(row["lead"]) if row["lead"] else None
            if row["id"] not in (exclude or set()) and wanted & set(dnc.lead_numbers(lead, row["primary_phone"])):
                found.append(int(row["id"]))
    blocked = _set_status(conn, sorted(set(found)), LeadStatus.BLOCKED, LeadReason.DO_NOT_CALL, PENDING, now)
    if blocked:
        note = {"text": f"{LeadStatus.BLOCKED}: a number is on the do-not-call list"}
        _audit(conn, blocked, "dnc", "do-not-call list", note, now)
    return blocked


def erase(conn: Connection, lead_ids: list[int], event_ids: list[int], now: float) -> None:
    """Erase the personal data of these leads and the raw bodies they came in (the rows and ids stay)."""
    if lead_ids:
        conn.execute(_ERASE, {"ids": lead_ids, "note": ERASED_NOTE, "now": now})
    if event_ids:
        conn.execute(_ERASE_BODIES, {"ids": sorted(set(event_ids))})


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    """Consecutive slices of at most `size`."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _timeline(
    conn: Connection,
    effect: Effect,
    done: Applied,
    acted: list[int],
    self_id: int | None,
    actor: str,
    now: float,
) -> None:
    """One timeline row per touched lead, naming the step, the rule and the jobs."""
    kind = "opt_out" if effect.opt_out else "cancel"
    common = {"rule": effect.rule, "jobs": done.jobs}
    action = "DELETE_LEADS" if effect.erase else "CANCEL_LEADS"
    if self_id is not None:
        what = "opt-out received" if effect.opt_out else "cancel received"
        text_ = (
            f"{what} ({effect.rule}): {len(done.own)} pending lead(s) {effect.status}, "
            f"{len(acted)} lead(s) Engage has to stop ({action}), "
            f"{len(done.listed)} number(s) added to the do-not-call list, {len(done.blocked)} other lead(s) blocked"
            + (", personal data erased" if effect.erase else "")
        )
        _audit(conn, [self_id], kind, actor, {**common, "text": text_}, now)
    if done.own:
        _audit(conn, done.own, kind, actor, {**common, "text": f"{effect.status} before loading"}, now)
    if acted:
        _audit(conn, acted, kind, actor, {**common, "text": f"{action} queued for Engage"}, now)
    rest = [i for i in done.stopped if i not in set(acted)]
    if rest:
        _audit(conn, rest, kind, actor, {**common, "text": f"{effect.status} after the dialer finished it"}, now)
    if done.erased:
        _audit(conn, done.erased, "erase", actor, {**common, "text": ERASED_NOTE}, now)


def _audit(conn: Connection, lead_ids: list[int], kind: str, actor: str, detail: dict[str, Any], now: float) -> None:
    """Timeline rows (audit_log) for these leads."""
    body = json.dumps(detail, default=str)
    conn.execute(
        audit_log.insert(),
        [{"at": now, "lead_id": i, "kind": kind, "actor": actor[:200], "detail": body} for i in lead_ids],
    )


def add_numbers(
    engine: Engine,
    phones: list[str],
    *,
    reason: str | None,
    source: str,
    actor: str,
    bulk: bool,
    clock: Callable[[], float] = time.time,
) -> list[str]:
    """Put E.164 numbers on the list in one transaction, with what that implies; return the new ones.

    Pending leads with a listed number are blocked, and the new numbers go to Engage's list (a
    live job, or a bulk one for imports, which waits behind live opt-outs).
    """
    now = clock()
    with write(engine) as conn:
        added = dnc.add(conn, phones, reason=reason, source=source, added_by=actor, now=now)
        _propagate(conn, added, reason=reason or "do-not-call list", actor=actor, bulk=bulk, now=now)
    return added


def _propagate(conn: Connection, added: list[str], *, reason: str, actor: str, bulk: bool, now: float) -> None:
    """Block pending leads with these new numbers and enqueue their Engage DNC job(s)."""
    if not added:
        return
    block_pending(conn, added, now)
    size = 500 if bulk else len(added)
    for index, chunk in enumerate(_chunks(added, size)):
        outbox.enqueue(
            conn,
            outbox.ENGAGE_DNC_ADD,
            f"dnc_add:{actor}:{now:.6f}:{index}",
            {"phones": chunk, "reason": reason},
            priority=outbox.PRIORITY_BULK if bulk else outbox.PRIORITY_LIVE,
            now=now,
        )


def import_file(
    engine: Engine,
    data: str,
    *,
    region: str,
    reason: str,
    actor: str,
    clock: Callable[[], float] = time.time,
) -> dnc.ImportResult:
    """Import a CSV of numbers (idempotent): counts of rows, added, already listed and refused lines.

    The new numbers go to Engage as bulk jobs (priority 9, 500 numbers each) behind live opt-outs.
    """
    numbers, invalid, rows = dnc.read_csv(data, region)
    now = clock()
    with write(engine) as conn:
        result = dnc.import_numbers(conn, numbers, default_reason=reason, source="import", added_by=actor, now=now)
        _propagate(conn, result.added, reason=reason, actor=actor, bulk=True, now=now)
    result.invalid, result.rows = invalid, rows
    return result
