"""One webhook request: verify → parse → map → route → persist → wake → answer."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from config import Source
from handlers import auth as source_auth
from handlers import base as handler_base
from handlers.base import AuthFailure, Inbound, Malformed, RateLimited
from logs import log, mask_text
from metrics import ACK_SECONDS, AUTH_FAILURES, RECORDS, WEBHOOKS
from prepare import prepare
from store.db import unavailable
from store.ingest import store_webhook

logger = logging.getLogger("leadrelay.intake")

# Headers kept with the raw body for audit; credentials are masked, the rest is harmless.
_MASKED_HEADERS = {"authorization", "x-leadrelay-token", "cookie", "x-api-key", "proxy-authorization"}


@dataclass
class Answer:
    """What to send back to the sender."""

    status: int
    body: Any  # dict → JSON; str → as is
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class Intake:
    """Runs the request half of the pipeline for one configured source at a time."""

    def __init__(self, engine, sandbox: bool, wake: Callable[[], None], clock: Callable[[], float] = time.time):
        """`wake` tells the dispatcher a lead is waiting (in-process signal; NOTIFY is sent by the store)."""
        self.engine, self.sandbox, self.wake, self.clock = engine, sandbox, wake, clock

    def authenticate(self, source: Source, request: Inbound) -> None:
        """Pass when any configured scheme accepts the request; raise AuthFailure otherwise."""
        stype = handler_base.get(source.type)
        token_ok = source_auth.check_token(source.settings, request)
        if token_ok:
            return
        if stype.has_own_auth(source.settings):
            stype.verify(source.settings, request, self.clock())
            return
        if token_ok is False:
            raise AuthFailure("invalid_token")
        # Only html_form may run without auth (config.py refuses it for other types).

    def handle(self, source: Source, request: Inbound, received_at: float) -> Answer:
        """Run the pipeline, then let the source type shape the answer (SOAP Ack, redirect page)."""
        answer = self._handle(source, request, received_at)
        hook = getattr(handler_base.get(source.type), "reply", None)
        if hook is not None and isinstance(answer.body, dict):
            reply = hook(source.settings, request, answer.status, answer.body)
            if reply is not None:
                return Answer(reply.status, reply.body, reply.content_type, dict(reply.headers))
        return answer

    def _handle(self, source: Source, request: Inbound, received_at: float) -> Answer:
        """Run verify → parse → map → route → persist and build the JSON answer."""
        name = source.name
        try:
            self.authenticate(source, request)
        except AuthFailure as failure:
            AUTH_FAILURES.labels(name, failure.reason).inc()
            WEBHOOKS.labels(name, "401").inc()
            log(logger, logging.WARNING, "webhook rejected", source=name, reason=failure.reason)
            return Answer(401, {"error": failure.reason})

        stype = handler_base.get(source.type)
        try:
            records = stype.parse(source.settings, request)
            if not records:
                raise Malformed("the body holds no records")
        except RateLimited as exc:
            WEBHOOKS.labels(name, "429").inc()
            return Answer(429, {"error": "rate_limited", "detail": str(exc)}, headers={"Retry-After": "60"})
        except Malformed as exc:
            return self._malformed(source, request, received_at, str(exc) or "unparseable body")

        pending = [prepare(source, record, received_at) for record in records]
        status = "invalid" if all(p.status == "invalid" for p in pending) else "accepted"
        try:
            stored = store_webhook(
                self.engine, source=name, received_at=received_at, method=request.method,
                path=mask_text(request.path + (("?" + request.url.split("?", 1)[1]) if "?" in request.url else "")),
                content_type=request.content_type, headers=_audit_headers(request.headers), body=request.body,
                remote_addr=request.remote_addr, event_status=status, reason=None, pending=pending,
                sandbox=self.sandbox,
            )
        except Exception as exc:
            if not unavailable(exc):
                raise
            return _not_stored(name, exc)
        if stored.wake:
            self.wake(*stored.wake)
        for outcome in stored.outcomes:
            RECORDS.labels(name, outcome.status).inc()

        if stored.all_duplicates:
            WEBHOOKS.labels(name, "duplicate").inc()
            original = stored.outcomes[0].duplicate_of_event
            return Answer(200, {"event_id": original, "duplicate": True})

        entries = []
        for item, outcome in zip(pending, stored.outcomes):
            entry = {"lead_id": outcome.lead_id, "externId": item.extern_id, "priority": item.priority,
                     "campaign": item.campaign, "status": outcome.status}
            if outcome.status == "invalid":
                entry["reasons"] = item.errors
            if outcome.status == "duplicate":
                entry["duplicate_of_event"] = outcome.duplicate_of_event
            if self.sandbox and outcome.status == "queued":
                entry["sandbox"] = True
            entries.append(entry)
        log(logger, logging.INFO, "webhook stored", source=name, event_id=stored.event_id,
            statuses=[e["status"] for e in entries], sandbox=self.sandbox)
        if source.reject_invalid and all(o.status == "invalid" for o in stored.outcomes):
            WEBHOOKS.labels(name, "422").inc()
            return Answer(422, {"error": "unmappable", "event_id": stored.event_id,
                                "records": [{"externId": e["externId"], "reasons": e["reasons"]} for e in entries]})
        WEBHOOKS.labels(name, "202").inc()
        ACK_SECONDS.labels(name).observe(self.clock() - received_at)
        return Answer(202, {"event_id": stored.event_id, "leads": entries})

    def _malformed(self, source: Source, request: Inbound, received_at: float, reason: str) -> Answer:
        """Store an unparseable body with its reason; 400 for developers, 2xx for senders that retry."""
        try:
            stored = store_webhook(
                self.engine, source=source.name, received_at=received_at, method=request.method,
                path=mask_text(request.path), content_type=request.content_type,
                headers=_audit_headers(request.headers), body=request.body, remote_addr=request.remote_addr,
                event_status="malformed", reason=reason, pending=[], sandbox=self.sandbox,
            )
        except Exception as exc:
            if not unavailable(exc):
                raise
            return _not_stored(source.name, exc)
        log(logger, logging.WARNING, "webhook malformed", source=source.name, event_id=stored.event_id, reason=reason)
        if source.reject_invalid:
            WEBHOOKS.labels(source.name, "400").inc()
            return Answer(400, {"error": "malformed", "detail": reason, "event_id": stored.event_id})
        WEBHOOKS.labels(source.name, "malformed").inc()
        return Answer(202, {"event_id": stored.event_id, "status": "malformed", "detail": reason, "leads": []})


def _not_stored(source: str, exc: Exception) -> Answer:
    """The database cannot take the webhook: never 2xx for what was not stored; 503 so the sender retries."""
    WEBHOOKS.labels(source, "503").inc()
    log(logger, logging.ERROR, "webhook not stored: database unavailable; answered 503", source=source,
        error=type(exc).__name__)
    return Answer(503, {"error": "database_unavailable", "detail": "not stored; retry later"},
                  headers={"Retry-After": "5"})


def _audit_headers(headers) -> dict[str, str]:
    """The request headers worth keeping, credentials masked."""
    return {k: ("***" if k.lower() in _MASKED_HEADERS else v) for k, v in headers.items()}
