"""The alert conditions, each judged from database state (the same answer in every process)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import Engine

from compliance.trustedform import Verdict
from lead.lifecycle import LeadStatus
from store import compliance, operator
from store.lease import EngageState
from store.outbox import ENGAGE_DNC_ADD, ENGAGE_LEAD_ACTION, unfinished_older_than

if TYPE_CHECKING:
    from config import Settings
    from store.operator import Snapshot


# The latest retain answer counts while it is this recent (retains are retried within a minute).
TRUSTEDFORM_RECENT = 900.0
# An opt-out (or a cancel/deletion) must reach Engage within seconds; not done within this is an alert.
OPT_OUT_STUCK_AFTER = 3600.0
OPT_OUT_KINDS = (ENGAGE_DNC_ADD, ENGAGE_LEAD_ACTION)


@dataclass
class Condition:
    """One condition as evaluated now: key (kind, or kind:subject), whether it holds, what to say."""

    key: str
    kind: str
    active: bool
    details: dict[str, Any] = field(default_factory=dict)


def _ago(seconds: float) -> str:
    """'4 minutes' style duration for messages."""
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} seconds"
    if seconds < 7200:
        return f"{seconds // 60} minutes"
    return f"{seconds // 3600} hours"


def evaluate(engine: Engine, settings: Settings, snap: Snapshot, states: dict[str, dict[str, Any]]) -> list[Condition]:
    """Every condition's current truth, with the numbers its message needs."""
    cfg = settings.file.alerts
    out: list[Condition] = []
    detail = snap.engage_detail or ""
    auth = snap.engage_state == EngageState.HELD and "authentication" in detail
    # The dispatcher publishes the account hold before it settles the refused batch `held` (so whoever
    # sees a held lead sees the hold too): while the account is held no send starts, so a lead still
    # `sending` is one being held, and the message counts it rather than saying "0 lead(s) are held".
    held = snap.statuses.get(LeadStatus.HELD, 0) + (snap.statuses.get(LeadStatus.SENDING, 0) if auth else 0)
    out.append(
        Condition(
            "engage_auth", "engage_auth", auth, {LeadStatus.HELD: held, "waiting": snap.waiting, "error": detail[:300]}
        )
    )
    # Engage's state, published by the dispatcher: `degraded` from a failed call until a call succeeds.
    # (Not "and leads wait": a lead in flight is not waiting, and the alert would flap with each retry.)
    out.append(
        Condition(
            "engage_outage",
            "engage_outage",
            snap.engage_state == EngageState.DEGRADED,
            {"waiting": snap.waiting, "error": detail[:300]},
        )
    )
    for hold in operator.holds(engine):
        if hold["scope"] != "account":
            out.append(
                Condition(
                    f"campaign_held:{hold['campaign']}",
                    "campaign_held",
                    True,
                    {
                        "campaign": hold["campaign"],
                        LeadStatus.HELD: hold["leads"],
                        "reason": (hold["reason"] or "")[:300],
                        "held_since": hold["since"],
                    },
                )
            )
    dead = snap.statuses.get(LeadStatus.DEAD, 0)
    last = (states.get("lead_dead") or {}).get("last_sent_at")
    out.append(
        Condition(
            "lead_dead",
            "lead_dead",
            dead > 0,
            {LeadStatus.DEAD: dead, "new": dead_since(engine, last) if last and dead else dead},
        )
    )
    beat = snap.heartbeat_age
    down = not snap.dispatcher_up and snap.waiting > 0 and (beat is None or beat > cfg["dispatcher_grace"])
    out.append(
        Condition(
            "dispatcher_down",
            "dispatcher_down",
            down,
            {"waiting": snap.waiting, "heartbeat_age": None if beat is None else round(beat, 1)},
        )
    )
    oldest = max(snap.oldest.values()) if snap.oldest else 0.0
    out.append(
        Condition(
            "backlog_stale",
            "backlog_stale",
            oldest > cfg["backlog_max_age"],
            {"oldest_seconds": round(oldest, 1), "waiting": snap.waiting, "backlog_max_age": cfg["backlog_max_age"]},
        )
    )
    retain = compliance.latest_retain(engine)
    refused = (
        retain is not None and retain["verdict"] == Verdict.UNAVAILABLE and snap.now - retain["at"] < TRUSTEDFORM_RECENT
    )
    tf_detail = (retain or {}).get("detail") or {}
    out.append(
        Condition(
            "trustedform_unavailable",
            "trustedform_unavailable",
            refused,
            {"status": tf_detail.get("status"), "reason": (tf_detail.get("reason") or "")[:300]},
        )
    )
    out.extend(_not_dialed(engine, snap.now, cfg["not_dialed_after"], states))
    out.append(opt_out_stuck(engine, snap.now))
    for name, source in settings.file.sources.items():
        if not source.expect_every:
            continue
        key = f"source_silent:{name}"
        seen = operator.last_seen(engine, name)
        baseline = seen if seen is not None else (states.get(key) or {}).get("created_at", snap.now)
        out.append(
            Condition(
                key,
                "source_silent",
                snap.now - baseline > source.expect_every,
                {"source": name, "last_seen": seen, "expect_every": source.expect_every},
            )
        )
    return out


def _not_dialed(engine: Engine, now: float, after: float, states: dict[str, dict[str, Any]]) -> list[Condition]:
    """`not_dialed:<campaign>`: loaded leads without a dialer attempt past `after` (campaigns that send events)."""
    from store.dialing import not_dialed

    with engine.connect() as conn:
        late = {row["campaign"]: row for row in not_dialed(conn, now, after)}
    out = [
        Condition(
            f"not_dialed:{campaign}",
            "not_dialed",
            True,
            {
                "campaign": campaign,
                "leads": row["leads"],
                "oldest_seconds": round(now - row["oldest_loaded_at"], 1),
                "after": after,
            },
        )
        for campaign, row in late.items()
    ]
    # A firing campaign that has no late lead any more resolves.
    for key, state in states.items():
        if key.startswith("not_dialed:") and state.get("state") == "firing" and key[len("not_dialed:") :] not in late:
            out.append(Condition(key, "not_dialed", False, {"campaign": key[len("not_dialed:") :]}))
    return out


def opt_out_stuck(engine: Engine, now: float) -> Condition:
    """Engage jobs (DNC entries, lead actions) created over an hour ago and not done (pending, sending or failed)."""
    with engine.connect() as conn:
        stuck = unfinished_older_than(conn, OPT_OUT_KINDS, now - OPT_OUT_STUCK_AFTER)
    return Condition(
        "opt_out_stuck",
        "opt_out_stuck",
        bool(stuck),
        {
            "jobs": len(stuck),
            "oldest_seconds": round(now - min(created for _i, _k, created in stuck), 1) if stuck else 0.0,
            "job_ids": [job_id for job_id, _k, _c in stuck[:10]],
        },
    )


def dead_since(engine: Engine, since: float) -> int:
    """Leads that died after `since` (the last message), still dead."""
    with engine.connect() as conn:
        return int(
            conn.execute(
                text(f"SELECT COUNT(*) FROM leads WHERE status='{LeadStatus.DEAD}' AND updated_at > :s"),  # noqa: S608
                {"s": since},
            ).scalar()
            or 0
        )


def message(kind: str, state: str, details: dict[str, Any], since: float, now: float | None = None) -> str:
    """One human sentence: what, since when, how many leads, what to do."""
    now = now or time.time()
    for_how_long = _ago(now - since)
    if state == "resolved":
        return {
            "engage_auth": f"Resolved: Engage accepts leadrelay's credentials again (after {for_how_long}); held leads are flowing.",
            "engage_outage": f"Resolved: Engage answers again after {for_how_long}; waiting leads are being sent.",
            "campaign_held": f"Resolved: campaign {details.get('campaign')!r} is no longer held (after {for_how_long}).",
            "lead_dead": f"Resolved: no dead lead is left un-replayed (after {for_how_long}).",
            "dispatcher_down": f"Resolved: a dispatcher is running again after {for_how_long}.",
            "backlog_stale": f"Resolved: the queue is moving again; no lead waits longer than the limit (after {for_how_long}).",
            "source_silent": f"Resolved: webhooks from {details.get('source')!r} are arriving again (after {for_how_long}).",
            "not_dialed": f"Resolved: every lead loaded into campaign {details.get('campaign')!r} has been dialed (after {for_how_long}).",
            "database_down": f"Resolved: this process reaches the database again after {for_how_long}.",
            "trustedform_unavailable": f"Resolved: TrustedForm answers again (after {for_how_long}); consent checks go on.",
            "opt_out_stuck": f"Resolved: every opt-out older than an hour has reached Engage (after {for_how_long}).",
        }.get(kind, f"Resolved: {kind} after {for_how_long}.")
    return {
        "engage_auth": (
            f"Engage has refused leadrelay's credentials for {for_how_long}: {details.get(LeadStatus.HELD, 0)} lead(s) "
            f"are held and nobody is calling them — fix RINGCENTRAL_CLIENT_ID/SECRET/JWT or ENGAGE_API_TOKEN "
            f"(check with `./leadrelay engage check`); held leads flow on their own once it works."
        ),
        "engage_outage": (
            f"Engage has been unreachable or failing for {for_how_long}: {details.get('waiting', 0)} lead(s) "
            f"are waiting — check RingCentral's status page and the network; leads are retried automatically."
        ),
        "campaign_held": (
            f"Campaign {details.get('campaign')!r} has been held for {for_how_long} "
            f"({details.get('reason', '')}): {details.get(LeadStatus.HELD, 0)} lead(s) wait — fix the campaign in Engage "
            f"or the route in leadrelay.yml, then release it at /admin/holds."
        ),
        "lead_dead": (
            f"{details.get('new', 0)} lead(s) died since the last message ({details.get(LeadStatus.DEAD, 0)} dead in all, "
            f"first {for_how_long} ago): they will not be dialed — see /admin/leads?status=dead and replay them."
        ),
        "dispatcher_down": (
            f"No dispatcher has been running for {for_how_long}: {details.get('waiting', 0)} lead(s) are "
            f"waiting and none is sent — start the worker (`flask --app app dispatch run`, Procfile `worker`)."
        ),
        "backlog_stale": (
            f"The oldest waiting lead is {_ago(details.get('oldest_seconds', 0))} old (limit "
            f"{_ago(details.get('backlog_max_age', 0))}), {details.get('waiting', 0)} lead(s) waiting, for "
            f"{for_how_long} — check the dispatcher and Engage on /admin."
        ),
        "source_silent": (
            f"No webhook from {details.get('source')!r} for {for_how_long} (expected every "
            f"{_ago(details.get('expect_every', 0))}) — check the sender's webhook settings and its delivery log."
        ),
        "trustedform_unavailable": (
            f"TrustedForm has not answered leadrelay's retains for {for_how_long} "
            f"(HTTP {details.get('status') or '-'}: {details.get('reason', '')}): leads that need consent wait "
            f"(deferred) and are blocked after consent.max_wait — check consent.trustedform.api_key "
            f"(401/403 is our key) and TrustedForm's status page."
        ),
        "not_dialed": (
            f"{details.get('leads', 0)} lead(s) loaded into campaign {details.get('campaign')!r} more than "
            f"{_ago(details.get('after', 0))} ago have no dialer attempt yet (the oldest waits "
            f"{_ago(details.get('oldest_seconds', 0))}), for {for_how_long} — check the campaign is running and "
            f"agents are logged in, in RingCX."
        ),
        "opt_out_stuck": (
            f"{details.get('jobs', 0)} opt-out/cancel job(s) have not reached Engage within an hour (oldest "
            f"{_ago(details.get('oldest_seconds', 0))}): these people may still be called — see "
            f'docs/operations.md "When opt_out_stuck fires" (`./leadrelay jobs list --stuck`).'
        ),
        "database_down": (
            f"This leadrelay process ({details.get('process')}) cannot reach the database for {for_how_long}: "
            f"webhooks are answered 503 and senders retry — check DATABASE_URL and the database server."
        ),
    }.get(kind, f"{kind} since {for_how_long}.")
