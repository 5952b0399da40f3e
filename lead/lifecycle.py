"""The lead's lifecycle: every status, why a lead waits, the named sets and the legal transitions.

This is the one place lead statuses and reasons are spelled (tests/test_lifecycle.py walks the tree
and fails on a literal elsewhere). Queue SQL, the console, the CLI, the charts, the admin API and
the metrics render from these names. `events.status` (accepted, duplicate, malformed, …) is a
different vocabulary and lives with the events (store/ingest.py `EventStatus`).

The statuses below the line "reserved" belong to wave-3 work (calling windows, consent, do-not-call,
cancellations, dial outcomes): they are placed in every set and transition now, so those changes
land on one model. docs/architecture.md draws this module as a state diagram.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from types import MappingProxyType


class LeadStatus(enum.StrEnum):
    """Where a lead is: one value of `leads.status`."""

    QUEUED = "queued"  # waiting for the dispatcher (due at next_attempt_at)
    SENDING = "sending"  # claimed under a lease epoch; one lead-loader call is in flight
    DELIVERED = "delivered"  # Engage accepted it (sandbox: the fake Engage did)
    RETRYING = "retrying"  # a call failed in a way worth repeating; due again at next_attempt_at
    REJECTED = "rejected"  # Engage refused this row (or a single-lead 400)
    HELD = "held"  # the account (credentials) or its campaign's breaker stops it; no attempts burn
    DEAD = "dead"  # retry budget spent, or claimed too often without settling (poison)
    SUPPRESSED = "suppressed"  # the same record is already live in the campaign (suppress_within)
    DROPPED = "dropped"  # a route (or the source's events filter) said not to dial it
    INVALID = "invalid"  # could not be mapped, or its fetch failed for good; replay re-maps it
    FETCHING = "fetching"  # an id-only record: the fetch pool gets it from the sender's API first
    # Reserved for the wave-3 issues (named now so they land on one model):
    DEFERRED = "deferred"  # waits for a time: a calling window or a pending consent check
    BLOCKED = "blocked"  # a compliance gate refused it (status_reason: consent, do_not_call, frequency_cap)
    CANCELLED = "cancelled"  # the CRM deleted or disqualified the record, or an operator cancelled it
    OPTED_OUT = "opted_out"  # this record's person asked not to be called
    DONE = "done"  # the dialer recorded a final outcome


class LeadReason(enum.StrEnum):
    """Why a lead waits, is held or is blocked: one value of `leads.status_reason` (NULL: no reason)."""

    # retrying / queued: when it is tried again is next_attempt_at
    OUTAGE = "outage"  # Engage unreachable (5xx, timeouts): expedited when it answers again
    THROTTLE = "throttle"  # a 429 from the lead loader or leadSearch: paused for Retry-After
    TOKEN_EXCHANGE = "token_exchange"  # noqa: S105 (a reason, not a secret) — the token-exchange budget is spent: waits it out
    ENGAGE_ERROR = "engage_error"  # any other failed call (GENERAL_FAILURE, an unreadable answer): backoff
    CRASH_RECOVERY = "crash_recovery"  # a send crashed or a leader died holding it: looked up before resending
    # held
    CAMPAIGN_HOLD = "campaign_hold"  # the campaign's breaker is open (403/404 campaign)
    ACCOUNT_HOLD = "account_hold"  # Engage refuses the credentials
    # deferred (reserved)
    CALLING_WINDOW = "calling_window"  # outside the lead's legal calling hours
    CONSENT_CHECK = "consent_check"  # a consent certificate is being verified
    # blocked (reserved)
    CONSENT = "consent"  # no valid consent
    DO_NOT_CALL = "do_not_call"  # a number is on the do-not-call list
    FREQUENCY_CAP = "frequency_cap"  # loaded too often within 24 h


class Cause(enum.StrEnum):
    """Who moves a lead from one status to another (the labels of TRANSITIONS)."""

    INTAKE = "intake"  # a webhook's record is stored (no row before)
    FETCHER = "fetcher"  # the fetch pool completed, retried or gave up on an id-only record
    DISPATCHER = "dispatcher"  # claim, settle by Engage's answer, hold a campaign / the account
    HOLD_PROBE = "hold_probe"  # the dispatcher re-queues a hold to probe it (a campaign's probe, a new token)
    CRASH_RECOVERY = "crash_recovery"  # a new leader re-claims a dead one's claim; a crashed send; a poison lead
    OPERATOR_REPLAY = "operator_replay"  # `leads replay`, the console, the admin API (re-queue or re-map)
    OPERATOR_RELEASE = "operator_release"  # an operator releases a hold
    GATES = "gates"  # reserved: compliance gates (calling window, consent, do-not-call, frequency cap)
    OPT_OUT = "opt_out"  # reserved: the person asked not to be called (STOP, CRM opt-out, DNC disposition)
    CANCEL = "cancel"  # reserved: the CRM deleted/disqualified the record, or an operator cancelled it
    DIALER_OUTCOME = "dialer_outcome"  # reserved: the dialer recorded a final disposition


_S = LeadStatus  # short names for the tables below (not part of the API)

# Claimable by the dispatcher once next_attempt_at has come (a `sending` lead whose claim expired or
# belongs to an older epoch is re-claimed too: crash recovery, spelled out in store/queue.py).
DISPATCHABLE: frozenset[LeadStatus] = frozenset({_S.QUEUED, _S.RETRYING})
# Live: a record in one of these counts for suppression (the same campaign + externId/phone is not
# loaded again). Deferred waits to be loaded; done was loaded (and dialed): neither is reloaded.
SUPPRESSING: frozenset[LeadStatus] = frozenset(
    {_S.QUEUED, _S.SENDING, _S.RETRYING, _S.HELD, _S.DELIVERED, _S.DEFERRED, _S.DONE}
)
# An operator may replay these. Invalid ones are re-mapped with the current config; the others go
# back to `queued` — a blocked lead so passes every gate again. An opted-out lead never comes back.
REPLAYABLE: frozenset[LeadStatus] = frozenset({_S.DEAD, _S.REJECTED, _S.HELD, _S.INVALID, _S.BLOCKED})
# What a replay re-queues as it is (the rest of REPLAYABLE, invalid, is re-mapped first).
REQUEUED_BY_REPLAY: frozenset[LeadStatus] = REPLAYABLE - {_S.INVALID}
# Nothing moves these on its own any more: only an operator (replay) or a person (opt-out) can.
TERMINAL: frozenset[LeadStatus] = frozenset(
    {_S.REJECTED, _S.DEAD, _S.SUPPRESSED, _S.DROPPED, _S.INVALID, _S.BLOCKED, _S.CANCELLED, _S.OPTED_OUT, _S.DONE}
)
# Finished: retention may erase their personal data. A waiting lead (deferred included) never is.
PURGEABLE: frozenset[LeadStatus] = TERMINAL | {_S.DELIVERED}
# Not yet loaded: a CRM opt-out, cancel or update may still change what (or whether) it is loaded.
# `sending` is not here: its call is in flight, a cancel applies once it is settled.
PENDING: frozenset[LeadStatus] = frozenset({_S.QUEUED, _S.FETCHING, _S.RETRYING, _S.HELD, _S.DEFERRED})
# Needs an operator's look (the console's "failed" colour, the dead-lead alert counts DEAD alone).
FAILED: frozenset[LeadStatus] = frozenset({_S.DEAD, _S.REJECTED, _S.INVALID, _S.BLOCKED})
# Still on its way to the dialer (the console's "waiting" colour).
IN_PROGRESS: frozenset[LeadStatus] = PENDING | {_S.SENDING}
# Waits for a time: next_attempt_at says when it is tried (claimed, fetched, let through) again.
WAITING: frozenset[LeadStatus] = DISPATCHABLE | {_S.FETCHING, _S.DEFERRED}

# The reasons each status may carry in status_reason (any other status has none). Read-only.
REASONS: Mapping[LeadStatus, frozenset[LeadReason]] = MappingProxyType(
    {
        _S.QUEUED: frozenset({LeadReason.CRASH_RECOVERY}),
        _S.RETRYING: frozenset(
            {
                LeadReason.OUTAGE,
                LeadReason.THROTTLE,
                LeadReason.TOKEN_EXCHANGE,
                LeadReason.ENGAGE_ERROR,
                LeadReason.CRASH_RECOVERY,
            }
        ),
        _S.HELD: frozenset({LeadReason.CAMPAIGN_HOLD, LeadReason.ACCOUNT_HOLD}),
        _S.DEFERRED: frozenset({LeadReason.CALLING_WINDOW, LeadReason.CONSENT_CHECK}),
        _S.BLOCKED: frozenset({LeadReason.CONSENT, LeadReason.DO_NOT_CALL, LeadReason.FREQUENCY_CAP}),
    }
)

_C = Cause


def _edges(
    causes: Iterable[Cause], sources: Iterable[LeadStatus | None], *targets: LeadStatus
) -> dict[tuple[LeadStatus | None, LeadStatus], frozenset[Cause]]:
    """Every (source, target) pair of the given statuses, labelled with the causes."""
    return {(a, b): frozenset(causes) for a in sources for b in targets}


def _table() -> dict[tuple[LeadStatus | None, LeadStatus], frozenset[Cause]]:
    """Build TRANSITIONS: each legal (from, to) with who may cause it; from None is a new row."""
    rows: list[tuple[Iterable[Cause], Iterable[LeadStatus | None], tuple[LeadStatus, ...]]] = [
        # intake stores each record in its first status (prepare.py, store/ingest.py)
        ((_C.INTAKE,), (None,), (_S.QUEUED, _S.FETCHING, _S.DROPPED, _S.INVALID, _S.SUPPRESSED)),
        # the fetch pool: mapped and routed as intake would, retried, or given up
        ((_C.FETCHER,), (_S.FETCHING,), (_S.QUEUED, _S.SUPPRESSED, _S.DROPPED, _S.INVALID, _S.DEAD, _S.FETCHING)),
        # the dispatcher claims due leads and settles each by Engage's answer
        ((_C.DISPATCHER,), DISPATCHABLE, (_S.SENDING, _S.HELD)),
        ((_C.DISPATCHER,), (_S.SENDING,), (_S.DELIVERED, _S.REJECTED, _S.RETRYING, _S.HELD, _S.DEAD)),
        # a hold's probe (or a new token) puts its leads back; they re-hold if it still fails
        ((_C.HOLD_PROBE, _C.OPERATOR_RELEASE), (_S.HELD,), (_S.QUEUED,)),
        # a leader died holding a claim, a send crashed (looked up before resending), a poison lead
        ((_C.CRASH_RECOVERY,), (_S.SENDING,), (_S.SENDING, _S.QUEUED, _S.DEAD)),
        # an operator's replay: re-queue, or re-map an invalid lead (or fetch it again)
        ((_C.OPERATOR_REPLAY,), REQUEUED_BY_REPLAY, (_S.QUEUED,)),
        ((_C.OPERATOR_REPLAY,), (_S.INVALID,), (_S.QUEUED, _S.SUPPRESSED, _S.DROPPED, _S.FETCHING)),
        # reserved — compliance gates: at intake, or after the claim and before the call
        ((_C.GATES,), (None, _S.QUEUED, _S.SENDING), (_S.DEFERRED, _S.BLOCKED)),
        ((_C.GATES,), (_S.DEFERRED,), (_S.QUEUED, _S.BLOCKED)),
        # reserved — the person opts out: anything not yet finished with, and loaded leads (Engage DNC)
        ((_C.OPT_OUT,), (None, *PENDING, _S.DELIVERED, _S.DONE, _S.BLOCKED), (_S.OPTED_OUT,)),
        # reserved — the CRM (or an operator) cancels a record not yet dialed to a final outcome
        ((_C.CANCEL,), (None, *PENDING, _S.DELIVERED), (_S.CANCELLED,)),
        # reserved — the dialer's final disposition
        ((_C.DIALER_OUTCOME,), (_S.DELIVERED,), (_S.DONE,)),
    ]
    table: dict[tuple[LeadStatus | None, LeadStatus], frozenset[Cause]] = {}
    for causes, sources, targets in rows:
        for edge, labels in _edges(causes, sources, *targets).items():
            table[edge] = table.get(edge, frozenset()) | labels
    return table


# Every legal status change, with who may cause it. Retention (purge) changes no status: it erases
# the personal data of PURGEABLE leads only. A status not reached by any change here is never set.
# Read-only: a new transition is a line in _table(), reviewed with the docs' diagram.
TRANSITIONS: Mapping[tuple[LeadStatus | None, LeadStatus], frozenset[Cause]] = MappingProxyType(_table())


def can_transition(a: LeadStatus | str | None, b: LeadStatus | str) -> bool:
    """Whether a lead may go from status `a` (None: no row yet) to `b`."""
    try:
        source = None if a is None else LeadStatus(a)
        target = LeadStatus(b)
    except ValueError:  # not a lead status at all
        return False
    return (source, target) in TRANSITIONS


def causes(a: LeadStatus | None, b: LeadStatus) -> frozenset[Cause]:
    """Who may move a lead from `a` to `b` (empty when nobody may)."""
    return TRANSITIONS.get((a, b), frozenset())


def ordered(statuses: Iterable[LeadStatus]) -> tuple[LeadStatus, ...]:
    """The statuses in the lifecycle's own order (how the CLI, the console and messages list them)."""
    chosen = set(statuses)
    return tuple(s for s in LeadStatus if s in chosen)


def sql_list(statuses: Iterable[LeadStatus]) -> str:
    """The statuses as a SQL list body (`'queued', 'retrying'`), sorted so the statement text is stable.

    Only for our own enum values (no input reaches SQL this way); used in hand-written queue SQL.
    """
    return ", ".join(f"'{LeadStatus(s).value}'" for s in sorted(statuses))
