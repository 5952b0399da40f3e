"""The Engage job kinds: `engage.dnc_add` (internal DNC list) and `engage.lead_action` (cancel/delete).

Payloads (enqueued by the opt-out side with store.outbox.enqueue):

- `engage.dnc_add`: {"phones": ["+13035550142", …], "tag": "GLOBAL" (optional: ENGAGE_DNC_TAG),
  "reason": "…", "lead_ids": [ids for the timeline]}. One number goes as one POST …/dncLists; when
  several are due together (a burst, a bulk import) they go as one uploadDncFile. Lookup before a
  resend: dncLists/advancedSearch; only the numbers not yet listed are sent again.
- `engage.lead_action`: {"action": "CANCEL_LEADS" | "DELETE_LEADS", "extern_ids": […], "campaigns":
  [as configured: name or id], "phones": [the leadPhone values leadrelay loaded], "lead_ids": […]}.
  The criteria name externIds AND campaigns AND numbers (externIds alone can collide across sources).
  Due jobs of one action share a call: the criteria are their union, so a lead matches only when its
  externId, its campaign and its number each belong to a job of the call (at most `ACTION_BATCH`).
  Lookup before a resend: campaignLeads/leadSearch; done when no matching lead is left un-cancelled
  (cancel) or at all (delete). Lead actions are idempotent, so an undecided lookup resends.

Rate windows (engage-api.md §5): lead actions are documented at 30 / 10 s and 120 / 60 s "like the
loader"; whether Engage counts them in the loader's account windows is undocumented, so they share
the loader's windows (the conservative reading) and leave hot leads their reserve. The DNC list's
limit is undocumented: its calls keep to 10 / 10 s and 60 / 60 s, half the "120 requests per
minute" most admin APIs document. Lookups keep to leadSearch's own 12 / 10 s and 50 / 30 s.
"""

from __future__ import annotations

import logging
from typing import Any

from dispatch.jobs import REGISTRY, Done, Failed, JobContext, JobRegistry, Looked, Outcome, Retry, Unknown
from engage.errors import AuthError, CampaignError, EngageError, LookupUnsupported, Throttled, Unavailable
from engage.lists import DEFAULT_TAG, EngageLists, search_criteria
from logs import log
from store.outbox import ENGAGE_DNC_ADD, ENGAGE_LEAD_ACTION, Job

logger = logging.getLogger("leadrelay.jobs")

DNC_ENDPOINT = "engage.dnc"
ACTIONS_ENDPOINT = "engage.lead_actions"  # shares the lead loader's windows
SEARCH_ENDPOINT = "engage.lead_search"
DNC_WINDOWS = ((10, 10.0), (60, 60.0))
SEARCH_WINDOWS = ((12, 10.0), (50, 30.0))
DNC_BATCH = 500  # numbers due together go in one upload
ACTION_BATCH = 50  # jobs of one action share a call
ACTIONS = ("CANCEL_LEADS", "DELETE_LEADS")
# Lead states after which a cancelled lead is no longer dialed.
STOPPED_STATES = frozenset({"CANCELLED", "DO-NOT-CALL", "DO_NOT_CALL", "COMPLETE", "CALLBACK-CANCELLED"})


def outcome_of(exc: Exception) -> Outcome:
    """The outcome of an Engage call that raised, by the error's scope."""
    if isinstance(exc, Throttled):
        return Retry(str(exc), after=exc.retry_after, throttled=True)
    if isinstance(exc, Unavailable):
        return Unknown(str(exc)) if exc.fate_unknown else Retry(str(exc), outage=True)
    if isinstance(exc, AuthError):
        # Credentials refused: nothing went out; the lanes hold the account, jobs probe behind the gate.
        return Retry(str(exc), outage=True)
    if isinstance(exc, CampaignError):
        return Retry(str(exc))
    if isinstance(exc, EngageError) and exc.status is not None and 400 <= exc.status < 500:
        return Failed(f"{exc}: {exc.body}"[:500])
    if isinstance(exc, ValueError):
        return Failed(str(exc)[:500])
    return Retry(str(exc)[:500])


def _tag(job: Job, ctx: JobContext) -> str:
    """The DNC tag of a job: its own, or ENGAGE_DNC_TAG (default GLOBAL)."""
    return str(job.payload.get("tag") or ctx.extra.get("dnc_tag") or DEFAULT_TAG)


def _phones(job: Job) -> list[str]:
    """The job's numbers, E.164, without repeats."""
    return list(dict.fromkeys(str(p) for p in job.payload.get("phones") or []))


def send_dnc(jobs: list[Job], ctx: JobContext) -> list[Outcome]:
    """Add the jobs' numbers: one number → POST dncLists; several → one uploadDncFile per tag."""
    lists = EngageLists(ctx.backend.client)
    outcomes: dict[int, Outcome] = {}
    by_tag: dict[str, list[Job]] = {}
    for job in jobs:
        if not _phones(job):
            outcomes[job.id] = Failed("no phones in the job's payload")
        else:
            by_tag.setdefault(_tag(job, ctx), []).append(job)
    for tag, group in by_tag.items():
        phones = list(dict.fromkeys(p for job in group for p in _phones(job)))
        try:
            if len(phones) == 1:
                answer: Any = lists.dnc_add(phones[0], tag, str(group[0].payload.get("reason") or "opt-out"))
            else:
                answer = lists.dnc_upload(phones, tag)
        except Exception as exc:  # mapped by scope; one tag's failure does not decide another's
            outcome = outcome_of(exc)
            for job in group:
                outcomes[job.id] = outcome
            continue
        for job in group:
            outcomes[job.id] = Done({"tag": tag, "phones": len(_phones(job)), "engage": _small(answer)})
    return [outcomes[job.id] for job in jobs]


def lookup_dnc(jobs: list[Job], ctx: JobContext) -> list[Looked]:
    """Which of the jobs' numbers Engage already lists (one search per tag): all → done; some → the rest."""
    lists = EngageLists(ctx.backend.client)
    found: dict[str, set[str]] = {}
    for tag in dict.fromkeys(_tag(job, ctx) for job in jobs):
        phones = list(dict.fromkeys(p for job in jobs if _tag(job, ctx) == tag for p in _phones(job)))
        found[tag] = lists.dnc_search(phones, tag) if phones else set()
    answers: list[Looked] = []
    for job in jobs:
        phones = _phones(job)
        missing = [p for p in phones if p not in found[_tag(job, ctx)]]
        if not missing:
            answers.append(True)
        elif len(missing) == len(phones):
            answers.append(False)
        else:
            answers.append({**job.payload, "phones": missing})
    return answers


def _criteria(jobs: list[Job], ctx: JobContext) -> dict[str, Any]:
    """The union of the jobs' criteria: externIds, campaign ids (names resolved), numbers."""
    externs: list[str] = []
    campaigns: list[int] = []
    phones: list[str] = []
    for job in jobs:
        externs += [str(e) for e in job.payload.get("extern_ids") or []]
        for campaign in job.payload.get("campaigns") or []:
            campaigns.append(int(ctx.backend.directory.resolve(campaign)))
        phones += [str(p) for p in job.payload.get("phones") or []]
    return search_criteria(list(dict.fromkeys(externs)), list(dict.fromkeys(campaigns)), list(dict.fromkeys(phones)))


def send_lead_actions(jobs: list[Job], ctx: JobContext) -> list[Outcome]:
    """One lead-action call per action for the due jobs (criteria: their union)."""
    lists = EngageLists(ctx.backend.client)
    outcomes: dict[int, Outcome] = {}
    by_action: dict[str, list[Job]] = {}
    for job in jobs:
        action = str(job.payload.get("action") or "")
        if action not in ACTIONS:
            outcomes[job.id] = Failed(f"unknown lead action {action!r} (one of {', '.join(ACTIONS)})")
        elif not job.payload.get("extern_ids"):
            outcomes[job.id] = Failed("a lead action needs the externIds leadrelay loaded")
        else:
            by_action.setdefault(action, []).append(job)
    for action, group in by_action.items():
        try:
            answer = lists.lead_action(action, _criteria(group, ctx))
        except Exception as exc:  # mapped by scope
            outcome = outcome_of(exc)
            for job in group:
                outcomes[job.id] = outcome
            continue
        for job in group:
            outcomes[job.id] = Done({"action": action, "batched": len(group), "engage": _small(answer)})
    return [outcomes[job.id] for job in jobs]


def lookup_lead_action(jobs: list[Job], ctx: JobContext) -> list[Looked]:
    """Whether each action took effect: no lead of the job left that it would change → done; else resend.

    One leadSearch by the union of the jobs' criteria; each job judges the rows of its own externIds
    and numbers.
    """
    lists = EngageLists(ctx.backend.client)
    try:
        rows = lists.lead_states(_criteria(jobs, ctx), max_rows=max(50, 10 * len(jobs)))
    except LookupUnsupported as exc:
        log(logger, logging.WARNING, "lead action fate undecided (lead search refused)", jobs=len(jobs), error=str(exc))
        return [None] * len(jobs)  # lead actions are idempotent: resending is safe
    answers: list[Looked] = []
    for job in jobs:
        externs = {str(e) for e in job.payload.get("extern_ids") or []}
        mine = [r for r in rows if str(r.get("externId")) in externs]
        if job.payload.get("action") == "DELETE_LEADS":
            answers.append(not mine)
        else:
            answers.append(all(str(r.get("leadState") or "") in STOPPED_STATES for r in mine))
    return answers


def _small(answer: Any) -> Any:
    """Engage's answer, kept small for the job's result column."""
    text = repr(answer)
    return answer if len(text) <= 2000 else text[:2000]


def register(registry: JobRegistry = REGISTRY) -> None:
    """Declare the Engage endpoints and kinds on `registry` (the process's one by default)."""
    registry.endpoint(DNC_ENDPOINT, DNC_WINDOWS)
    registry.endpoint(ACTIONS_ENDPOINT, shared=True)
    registry.endpoint(SEARCH_ENDPOINT, SEARCH_WINDOWS)
    registry.register_batch(
        ENGAGE_DNC_ADD,
        send_dnc,
        endpoint=DNC_ENDPOINT,
        batch=DNC_BATCH,
        lookup=lookup_dnc,
        lookup_endpoint=DNC_ENDPOINT,
    )
    registry.register_batch(
        ENGAGE_LEAD_ACTION,
        send_lead_actions,
        endpoint=ACTIONS_ENDPOINT,
        batch=ACTION_BATCH,
        lookup=lookup_lead_action,
        lookup_endpoint=SEARCH_ENDPOINT,
    )


register()
