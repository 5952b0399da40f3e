"""One webhook request, down the floors once: authenticate → parse → too many → lifecycle → prepare → persist → answer."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

import routing
from config import Source, source_doc
from dialing import answer_body, record_events
from handlers import auth as source_auth
from handlers import base as handler_base
from handlers._limits import check_shape, unsafe_text
from handlers.base import AuthFailure, Inbound, Malformed, RateLimited, Record, SourceType
from lead.lifecycle import LeadStatus as S
from logs import log
from metrics import ACK_SECONDS, AUTH_FAILURES, RECORDS, WEBHOOKS
from prepare import prepare, record_key
from redact import audit_headers, audit_path, source_secrets
from routing import Change
from store.db import unavailable
from store.ingest import DUPLICATE, EventStatus, PendingLead, Stored, recent_hits, store_webhook

logger = logging.getLogger("leadrelay.intake")

CONTENT_TYPE_MAX = 200  # the events.content_type column
REMOTE_ADDR_MAX = 64  # the events.remote_addr column


@dataclass
class Answer:
    """What to send back to the sender."""

    status: int
    body: Any  # dict → JSON; str → as is
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    """One webhook on its way down the steps: what it came with, and what each step adds to it."""

    source: Source
    stype: SourceType  # resolved once, in Intake.handle
    inbound: Inbound
    received_at: float
    records: list[Record] = field(default_factory=list)  # parse
    changes: list[Change | None] = field(default_factory=list)  # lifecycle: one per record, same order
    pending: list[PendingLead] = field(default_factory=list)  # prepare: one per record, same order
    stored: Stored | None = None  # persist

    @property
    def name(self) -> str:
        """The configured source's name (every metric and log line carries it)."""
        return self.source.name


# A step reads the request, may add to it, and either answers (the request ends there) or passes.
Step = Callable[[Request], Answer | None]


class Intake:
    """Runs the request half of the pipeline for one configured source at a time."""

    def __init__(
        self,
        engine: Engine,
        sandbox: bool,
        wake: Callable[[], None],
        clock: Callable[[], float] = time.time,
        on_stored: Callable[[Source, list[tuple[int, PendingLead]]], None] | None = None,
        sources: Mapping[str, Source] | None = None,
    ) -> None:
        """`wake` tells the dispatcher a lead is waiting (in-process signal; NOTIFY is sent by the store).

        `on_stored(source, [(lead id, its PendingLead)])` runs after the commit for the queued leads: consent retains
        start there, off the request path (dispatch/retainer.py). `sources` (every configured
        source) lets a dialer event reach its lead's source's `writeback:`.
        """
        self.engine, self.sandbox, self.wake, self.clock = engine, sandbox, wake, clock
        self.on_stored = on_stored
        self.sources: Mapping[str, Source] = sources or {}
        # The floors, in order. The first step that answers ends the request.
        self.steps: tuple[Step, ...] = (
            self._authenticate,
            self._parse,
            self._too_many,
            self._check_records,
            self._shared_limits,
            self._dialer_events,
            self._lifecycle,
            self._prepare,
            self._persist,
        )

    def handle(self, source: Source, inbound: Inbound, received_at: float) -> Answer:
        """Run the steps, then let the source type shape the answer (SOAP Ack, redirect page)."""
        request = Request(source, handler_base.type_of(source.type), inbound, received_at)
        answer = self._run(request)
        # 413 stays 413 for every sender: a request over the sender's own documented batch size
        # is not one of its messages, and acknowledging it would hide the refused records.
        if isinstance(answer.body, dict) and answer.status != 413:
            reply = request.stype.reply(source.settings, inbound, answer.status, answer.body)
            if reply is not None:
                return Answer(reply.status, reply.body, reply.content_type, dict(reply.headers))
        return answer

    def _run(self, request: Request) -> Answer:
        """Go down the steps; a database that cannot take the request is a 503 from any of them."""
        for step in self.steps:
            try:
                answer = step(request)
            except Exception as exc:
                if not unavailable(exc):
                    raise
                return _not_stored(request.name, exc)
            if answer is not None:
                return answer
        return self._answer(request)

    # --- authenticate --------------------------------------------------------------------------

    def _authenticate(self, request: Request) -> Answer | None:
        """401 with the reason when no configured scheme accepts the request; nothing is stored."""
        try:
            self._verify(request)
        except AuthFailure as failure:
            AUTH_FAILURES.labels(request.name, failure.reason).inc()
            WEBHOOKS.labels(request.name, "401").inc()
            log(logger, logging.WARNING, "webhook rejected", source=request.name, reason=failure.reason)
            return Answer(401, {"error": failure.reason, "detail": auth_hint(request.source, failure)})
        return None

    def check_credentials(self, source: Source, inbound: Inbound) -> None:
        """The authenticate step alone (`./leadrelay try --verify`): raise AuthFailure as a webhook would get."""
        self._verify(Request(source, handler_base.type_of(source.type), inbound, self.clock()))

    def _verify(self, request: Request) -> None:
        """Pass when any configured scheme accepts the request; raise AuthFailure otherwise."""
        settings, inbound = request.source.settings, request.inbound
        token_ok = source_auth.check_token(settings, inbound)
        # A configured signature is required: the shared token (one string, often in a URL) does not
        # replace it unless the source says `allow_token_alone: true`.
        signature_required = (
            request.stype.own_auth_signs and request.stype.has_own_auth(settings) and not settings.allow_token_alone
        )
        if token_ok and not signature_required:
            return
        if request.stype.has_own_auth(settings):
            try:
                request.stype.verify(settings, inbound, self.clock())
            except AuthFailure:
                raise
            except Exception as exc:
                log(
                    logger,
                    logging.WARNING,
                    "verify failed on unexpected input",
                    source=request.name,
                    error=type(exc).__name__,
                )
                raise AuthFailure("invalid_signature", "unreadable authentication headers") from exc
            return
        if token_ok is False:
            raise AuthFailure("invalid_token")
        # Only html_form may run without auth (config.py refuses it for other types).

    # --- parse, too many -----------------------------------------------------------------------

    def _parse(self, request: Request) -> Answer | None:
        """The body's records; an unreadable or empty body is kept raw as `malformed`."""
        try:
            request.records = request.stype.parse(request.source.settings, request.inbound)
            if not request.records:
                raise Malformed("the body holds no records")
        except Exception as exc:
            return self._refused_body(request, exc)
        return None

    def _too_many(self, request: Request) -> Answer | None:
        """Over max_records: 413, no lead created, the raw request kept as an event for audit."""
        source, count = request.source, len(request.records)
        if count <= source.max_records:
            return None
        reason = f"too_many_records: {count} records, the limit is {source.max_records}"
        event_id = self._keep_raw(request, reason)
        log(logger, logging.WARNING, "webhook refused", source=source.name, event_id=event_id, reason=reason)
        WEBHOOKS.labels(source.name, "413").inc()
        return Answer(
            413,
            {"error": "too_many_records", "limit": source.max_records, "records": count, "event_id": event_id},
        )

    def _check_records(self, request: Request) -> Answer | None:
        """Every record within the shape bounds (depth, size); otherwise the body is `malformed`."""
        try:
            for record in request.records:
                check_shape(record.fields)
        except Exception as exc:
            return self._refused_body(request, exc)
        return None

    def _refused_body(self, request: Request, exc: Exception) -> Answer:
        """A body the parser or the shape check refused: 429 for a sender's rate limit, else malformed."""
        if isinstance(exc, RateLimited):
            return _rate_limited(request.name, exc)
        if isinstance(exc, Malformed):
            return self._malformed(request, str(exc) or "unparseable body")
        log(logger, logging.WARNING, "parser failed on unexpected input", source=request.name, error=type(exc).__name__)
        return self._malformed(request, f"unparseable body ({type(exc).__name__})")

    def _shared_limits(self, request: Request) -> Answer | None:
        """429 when the database says this client or phone is over its limit (counted across processes)."""
        source = request.source
        for kind, key, count, seconds in request.stype.shared_limits(source.settings, request.inbound, request.records):
            since = request.received_at - seconds
            if recent_hits(self.engine, source.name, kind, key[:REMOTE_ADDR_MAX], since) >= count:
                what = "address" if kind == "ip" else "phone number"
                return _rate_limited(source.name, RateLimited(f"too many submissions for this {what}"))
        return None

    # --- lifecycle -----------------------------------------------------------------------------

    def _lifecycle(self, request: Request) -> Answer | None:
        """The source's opt_out_when / cancel_when / erase_when on every record, before `events:` and routes."""
        rules = request.source.lifecycle
        request.changes = [routing.lifecycle(rules, record) for record in request.records]
        return None

    # --- dialer events (ringcx): reports on leads, never leads -----------------------------------

    def _dialer_events(self, request: Request) -> Answer | None:
        """A dialer's report (type with `makes_leads = False`): stored with its attempts, matched, answered."""
        if request.stype.makes_leads:
            return None
        source = request.source
        stored = record_events(
            self.engine, source, request.records, request.received_at, self._event_fields(request), self.sources
        )
        body = answer_body(stored)
        if stored.all_duplicates:
            WEBHOOKS.labels(source.name, "duplicate").inc()
            return Answer(200, body)
        log(
            logger,
            logging.INFO,
            "dialer event stored",
            source=source.name,
            event_id=stored.event_id,
            statuses=[a["status"] for a in body["attempts"]],
        )
        WEBHOOKS.labels(source.name, "202").inc()
        ACK_SECONDS.labels(source.name).observe(self.clock() - request.received_at)
        return Answer(202, body)

    # --- prepare -------------------------------------------------------------------------------

    def _prepare(self, request: Request) -> Answer | None:
        """Map and route every record (prepare.py): what the store keeps for each."""
        changes = request.changes or [None] * len(request.records)
        request.pending = [
            self._prepare_one(request.source, record, request.received_at, change)
            for record, change in zip(request.records, changes, strict=True)
        ]
        return None

    def _prepare_one(
        self, source: Source, record: Record, received_at: float, change: Change | None = None
    ) -> PendingLead:
        """prepare() one record, refusing it (never its batch-mates) when it cannot be mapped or stored."""
        try:
            item = prepare(source, record, received_at, change=change)
        except Exception as exc:
            log(logger, logging.WARNING, "record could not be mapped", source=source.name, error=type(exc).__name__)
            fallback = source.routes[-1]
            key, expires = _fallback_key(source, record, received_at)
            return PendingLead(
                status=S.INVALID,
                priority=fallback.priority,
                campaign=fallback.campaign,
                record_key=key,
                key_expires_at=expires,
                record=record.fields,
                errors={"record": [f"could not be mapped ({type(exc).__name__})"]},
            )
        reason = unsafe_text(item.extern_id) or unsafe_text(item.lead) or unsafe_text(item.primary_phone)
        if reason and item.status != S.INVALID:
            item.status, item.errors = S.INVALID, {"text": [reason]}
        if reason or item.status == S.INVALID:
            # Nothing of a refused record goes into a text column but its (escaped) JSON.
            item.extern_id = None if unsafe_text(item.extern_id) else item.extern_id
            item.lead, item.primary_phone = None, None
        return item

    # --- persist -------------------------------------------------------------------------------

    def _persist(self, request: Request) -> Answer | None:
        """The event and its leads in one transaction, before any answer; then wake the dispatcher."""
        status = EventStatus.INVALID if all(p.status == S.INVALID for p in request.pending) else EventStatus.ACCEPTED
        stored = request.stored = store_webhook(
            self.engine,
            source=request.name,
            received_at=request.received_at,
            pending=request.pending,
            sandbox=self.sandbox,
            event_status=status,
            reason=None,
            **self._event_fields(request),
        )
        # Consent retains first: the dispatcher will wait for them, so they start before it wakes.
        queued = [
            (o.lead_id, item)
            for o, item in zip(stored.outcomes, request.pending, strict=False)
            if o.status == S.QUEUED and o.lead_id is not None
        ]
        if queued and self.on_stored is not None and len(stored.outcomes) == len(request.pending):
            self.on_stored(request.source, queued)
        if stored.wake:
            self.wake(*stored.wake)
        for outcome in stored.outcomes:
            RECORDS.labels(request.name, outcome.status).inc()
        return None

    def _keep_raw(self, request: Request, reason: str) -> int:
        """Store the raw request as a `malformed` event with its reason; its id."""
        stored = store_webhook(
            self.engine,
            source=request.name,
            received_at=request.received_at,
            pending=[],
            sandbox=self.sandbox,
            event_status=EventStatus.MALFORMED,
            reason=reason,
            **self._event_fields(request),
        )
        return stored.event_id

    def _event_fields(self, request: Request) -> dict[str, Any]:
        """The event row's request columns: configured secrets stripped, text the database can hold."""
        settings, inbound = request.source.settings, request.inbound
        secrets = source_secrets(settings)
        address = request.stype.client_address(settings, inbound)
        return {
            "method": inbound.method,
            "path": audit_path(inbound.url, secrets),
            "content_type": (inbound.content_type or "")[:CONTENT_TYPE_MAX],
            "headers": audit_headers(inbound.headers, secrets),
            "body": inbound.body,
            "remote_addr": (address or "")[:REMOTE_ADDR_MAX],
        }

    # --- answer --------------------------------------------------------------------------------

    def _answer(self, request: Request) -> Answer:
        """202 with each lead's status; 200 for a whole duplicate; 422 when every record is unmappable."""
        source, pending, stored = request.source, request.pending, request.stored
        assert stored is not None, "the persist step runs before the answer"
        name = source.name
        if stored.all_duplicates:
            WEBHOOKS.labels(name, "duplicate").inc()
            original = stored.outcomes[0].duplicate_of_event
            if source.reject_invalid and all(o.prior_status == S.INVALID for o in stored.outcomes):
                # The same invalid form again: the same refusal, never a "thank you" for a
                # record that will not be called.
                return Answer(
                    422,
                    {
                        "error": "unmappable",
                        "event_id": original,
                        "duplicate": True,
                        "records": [{"externId": p.extern_id, "reasons": p.errors} for p in pending],
                    },
                )
            return Answer(200, {"event_id": original, "duplicate": True})

        entries = []
        for item, outcome in zip(pending, stored.outcomes, strict=True):
            entry = {
                "lead_id": outcome.lead_id,
                "externId": item.extern_id,
                "priority": item.priority,
                "campaign": item.campaign,
                "status": outcome.status,
            }
            if outcome.status == S.INVALID:
                entry["reasons"] = item.errors
            if outcome.status == DUPLICATE:
                entry["duplicate_of_event"] = outcome.duplicate_of_event
            if self.sandbox and outcome.status == S.QUEUED:
                entry["sandbox"] = True
            entries.append(entry)
        log(
            logger,
            logging.INFO,
            "webhook stored",
            source=name,
            event_id=stored.event_id,
            statuses=[e["status"] for e in entries],
            sandbox=self.sandbox,
        )
        if source.reject_invalid and all(o.status == S.INVALID for o in stored.outcomes):
            WEBHOOKS.labels(name, "422").inc()
            return Answer(
                422,
                {
                    "error": "unmappable",
                    "event_id": stored.event_id,
                    "records": [{"externId": e["externId"], "reasons": e["reasons"]} for e in entries],
                },
            )
        WEBHOOKS.labels(name, "202").inc()
        ACK_SECONDS.labels(name).observe(self.clock() - request.received_at)
        return Answer(202, {"event_id": stored.event_id, "leads": entries})

    def _malformed(self, request: Request, reason: str) -> Answer:
        """Store an unparseable body with its reason; 400 for developers, 2xx for senders that retry."""
        source = request.source
        event_id = self._keep_raw(request, reason)
        log(logger, logging.WARNING, "webhook malformed", source=source.name, event_id=event_id, reason=reason)
        if source.reject_invalid:
            WEBHOOKS.labels(source.name, "400").inc()
            return Answer(400, {"error": "malformed", "detail": reason, "event_id": event_id})
        WEBHOOKS.labels(source.name, "malformed").inc()
        return Answer(202, {"event_id": event_id, "status": "malformed", "detail": reason, "leads": []})


def auth_hint(source: Source, failure: AuthFailure) -> str:
    """Where this source expects its credentials, for the 401: names of headers, never a secret.

    Only this source's own schemes are named (a caller learns nothing of other sources), and what
    the check found wrong, e.g. `X-HubSpot-Signature-v3 is missing`.
    """
    settings = source.settings
    stype = handler_base.type_of(source.type)
    own = f"{stype.name}'s own authentication"
    found = failure.detail or f"see {source_doc(source.type)}"
    if stype.has_own_auth(settings) and stype.own_auth_signs and not settings.allow_token_alone:
        # The signature is required here: pointing at the token would send the caller the wrong way.
        alone = "; the shared token alone does not pass" if settings.tokens else ""
        return f"{own}: {found}{alone}"
    places = []
    if settings.tokens:
        where = f"the {source_auth.TOKEN_HEADER} header or the ?{source_auth.TOKEN_QUERY}= query parameter"
        if settings.token_field:
            where += f" or the form field {settings.token_field!r}"
        places.append(f"the token goes in {where}")
    if stype.has_own_auth(settings):
        places.append(f"{own}: {failure.detail}" if failure.detail else f"{own} ({found})")
    elif failure.detail:
        places.append(failure.detail)
    return "; or ".join(places) or "this source refuses the request's credentials"


def _rate_limited(name: str, exc: RateLimited) -> Answer:
    """429 with Retry-After; nothing stored."""
    WEBHOOKS.labels(name, "429").inc()
    return Answer(429, {"error": "rate_limited", "detail": str(exc)}, headers={"Retry-After": "60"})


def _fallback_key(source: Source, record: Record, received_at: float) -> tuple[str, float | None]:
    """The record's idempotency key, or a hash of its printable form when even that fails."""
    try:
        return record_key(source, record, received_at)
    except Exception:
        digest = hashlib.sha256(repr(record.fields).encode("utf-8", "surrogatepass")).hexdigest()
        return f"h:{digest}", received_at + source.dedupe_window


def _not_stored(source: str, exc: Exception) -> Answer:
    """The database cannot take the webhook: never 2xx for what was not stored; 503 so the sender retries."""
    WEBHOOKS.labels(source, "503").inc()
    log(
        logger,
        logging.ERROR,
        "webhook not stored: database unavailable; answered 503",
        source=source,
        error=type(exc).__name__,
    )
    return Answer(
        503, {"error": "database_unavailable", "detail": "not stored; retry later"}, headers={"Retry-After": "5"}
    )
