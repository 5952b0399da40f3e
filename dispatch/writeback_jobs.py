"""The write-back job kinds: `writeback.hubspot`, `writeback.salesforce`, `writeback.webhook` (crm/ does the HTTP).

Payload (enqueued with the attempt, in its transaction: store/attempts.py): crm/payload.py's
`Payload` — the lead (id, externId, phone, source, campaign) and the attempt. The settings are the
lead's source's `writeback:` as configured now (a rotated token applies to jobs already waiting).
One job per call; before resending an unknown fate, HubSpot and Salesforce are searched for
leadrelay's id (`hs_call_external_id`, `CallObject`); a webhook is simply resent (the receiver
deduplicates by its fixed `webhook-id`). Every try after the first also looks first (`look_first`), so a
try that wrote the call but failed on the contact property does not write a second call.

Rate windows: HubSpot private apps allow 100 requests per 10 s (Professional/Enterprise: 190 / 10 s)
— kept to 80 / 10 s; Salesforce limits API requests per 24 h (the answer is REQUEST_LIMIT_EXCEEDED,
throttled for `limit_wait`), kept to 20 / s; a generic receiver, 20 / s.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from crm import hubspot, salesforce, webhook
from crm.base import Outcome as CrmOutcome
from dispatch.jobs import REGISTRY, Done, Failed, JobContext, JobRegistry, Looked, Outcome, Retry, Unknown
from store.outbox import WRITEBACK_HUBSPOT, WRITEBACK_SALESFORCE, WRITEBACK_WEBHOOK, Job

HUBSPOT_ENDPOINT = "crm.hubspot"
SALESFORCE_ENDPOINT = "crm.salesforce"
WEBHOOK_ENDPOINT = "crm.webhook"
HUBSPOT_WINDOWS = ((80, 10.0),)
SALESFORCE_WINDOWS = ((20, 1.0),)
WEBHOOK_WINDOWS = ((20, 1.0),)

_SESSION = requests.Session()


class CrmUnavailable(OSError):
    """A lookup could not reach the CRM (the runner gates the endpoint and keeps the fate unknown)."""


def settings_of(job: Job, ctx: JobContext, target: str) -> dict[str, Any] | None:
    """The lead's source's `writeback.<target>` settings (with the shared timeout), or None when gone from config."""
    sources = ctx.extra.get("sources") or {}
    source = sources.get(job.payload["lead"]["source"])
    writeback = getattr(source, "writeback", None) or {}
    if target == "webhook":
        if not writeback.get("webhook"):
            return None
        return {"webhook": writeback["webhook"], "secret": writeback["secret"], "timeout": writeback["timeout"]}
    own = writeback.get(target)
    return None if not own else {**own, "timeout": writeback["timeout"]}


def outcome(result: CrmOutcome) -> Outcome:
    """crm/'s outcome in the job lane's terms."""
    if result.state == "sent":
        return Done(result.result)
    if result.state == "failed":
        return Failed(result.detail)
    if result.state == "unknown":
        return Unknown(result.detail)
    return Retry(
        result.detail, after=result.after, throttled=result.cause == "throttled", outage=result.cause == "down"
    )


def _gone(target: str) -> Failed:
    """The source no longer writes back there: kept as failed for a person, never sent."""
    return Failed(f"writeback.{target} is no longer configured for this lead's source")


def send_hubspot(job: Job, ctx: JobContext) -> Outcome:
    """One HubSpot try (after the first: search before create)."""
    settings = settings_of(job, ctx, "hubspot")
    if settings is None:
        return _gone("hubspot")
    return outcome(hubspot.deliver(job.payload, settings, _SESSION, look_first=job.attempts > 0))  # type: ignore[arg-type]


def send_salesforce(job: Job, ctx: JobContext) -> Outcome:
    """One Salesforce try (after the first: query before create)."""
    settings = settings_of(job, ctx, "salesforce")
    if settings is None:
        return _gone("salesforce")
    return outcome(salesforce.deliver(job.payload, settings, _SESSION, look_first=job.attempts > 0))  # type: ignore[arg-type]


def send_webhook(job: Job, ctx: JobContext) -> Outcome:
    """One signed POST, timestamped now."""
    settings = settings_of(job, ctx, "webhook")
    if settings is None:
        return _gone("webhook")
    return outcome(webhook.deliver(job.payload, settings, _SESSION, now=time.time()))  # type: ignore[arg-type]


def _found(found: str | CrmOutcome | None) -> Looked:
    """A lookup's answer: True (there), False (not there), or an error the runner treats as unknown."""
    if isinstance(found, CrmOutcome):
        if found.cause == "down":
            raise CrmUnavailable(found.detail)
        raise RuntimeError(found.detail)
    return found is not None


def lookup_hubspot(job: Job, ctx: JobContext) -> Looked:
    """Whether HubSpot created this attempt's call although its answer was lost."""
    settings = settings_of(job, ctx, "hubspot")
    return None if settings is None else _found(hubspot.find_call(job.payload, settings, _SESSION))  # type: ignore[arg-type]


def lookup_salesforce(job: Job, ctx: JobContext) -> Looked:
    """Whether Salesforce created this attempt's Task although its answer was lost."""
    settings = settings_of(job, ctx, "salesforce")
    return None if settings is None else _found(salesforce.find_task(job.payload, settings, _SESSION))  # type: ignore[arg-type]


def register(registry: JobRegistry = REGISTRY) -> None:
    """Declare the CRM endpoints and the three write-back kinds."""
    registry.endpoint(HUBSPOT_ENDPOINT, HUBSPOT_WINDOWS)
    registry.endpoint(SALESFORCE_ENDPOINT, SALESFORCE_WINDOWS)
    registry.endpoint(WEBHOOK_ENDPOINT, WEBHOOK_WINDOWS)
    registry.register(WRITEBACK_HUBSPOT, send_hubspot, endpoint=HUBSPOT_ENDPOINT, lookup=lookup_hubspot)
    registry.register(WRITEBACK_SALESFORCE, send_salesforce, endpoint=SALESFORCE_ENDPOINT, lookup=lookup_salesforce)
    registry.register(WRITEBACK_WEBHOOK, send_webhook, endpoint=WEBHOOK_ENDPOINT)


register()
