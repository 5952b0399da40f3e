"""One webhook request: verify → parse → map → route → persist → wake → answer."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from config import Source
from dialing import answer_body, record_events
from handlers import auth as source_auth
from handlers import base as handler_base
from handlers._limits import check_shape, unsafe_text
from handlers.base import AuthFailure, Inbound, Malformed, RateLimited, Record
from logs import log
from metrics import ACK_SECONDS, AUTH_FAILURES, RECORDS, WEBHOOKS
from prepare import prepare, record_key
from redact import audit_headers, audit_path, source_secrets
from store.db import unavailable
from store.ingest import PendingLead, recent_hits, store_webhook

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


class Intake:
    """Runs the request half of the pipeline for one configured source at a time."""

    def __init__(
        self, engine: Engine, sandbox: bool, wake: Callable[[], None], clock: Callable[[], float] = time.time
    ) -> None:
        """`wake` tells the dispatcher a lead is waiting (in-process signal; NOTIFY is sent by the store)."""
        self.engine, self.sandbox, self.wake, self.clock = engine, sandbox, wake, clock

    def authenticate(self, source: Source, request: Inbound) -> None:
        """Pass when any configured scheme accepts the request; raise AuthFailure otherwise."""
        stype = handler_base.type_of(source.type)
        token_ok = source_auth.check_token(source.settings, request)
        if token_ok:
            return
        if stype.has_own_auth(source.settings):
            try:
                stype.verify(source.settings, request, self.clock())
            except AuthFailure:
                raise
            except Exception as exc:
                log(
                    logger,
                    logging.WARNING,
                    "verify failed on unexpected input",
                    source=source.name,
                    error=type(exc).__name__,
                )
                raise AuthFailure("invalid_signature", "unreadable authentication headers") from exc
            return
        if token_ok is False:
            raise AuthFailure("invalid_token")
        # Only html_form may run without auth (config.py refuses it for other types).

    def handle(self, source: Source, request: Inbound, received_at: float) -> Answer:
        """Run the pipeline, then let the source type shape the answer (SOAP Ack, redirect page)."""
        answer = self._handle(source, request, received_at)
        stype = handler_base.type_of(source.type)
        # 413 stays 413 for every sender: a request over the sender's own documented batch size
        # is not one of its messages, and acknowledging it would hide the refused records.
        if isinstance(answer.body, dict) and answer.status != 413:
            reply = stype.reply(source.settings, request, answer.status, answer.body)
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

        stype = handler_base.type_of(source.type)
        try:
            records = stype.parse(source.settings, request)
            if not records:
                raise Malformed("the body holds no records")
            if len(records) > source.max_records:
                return self._too_many(source, request, received_at, len(records))
            for record in records:
                check_shape(record.fields)
        except RateLimited as exc:
            return _rate_limited(name, exc)
        except Malformed as exc:
            return self._malformed(source, request, received_at, str(exc) or "unparseable body")
        except Exception as exc:
            log(logger, logging.WARNING, "parser failed on unexpected input", source=name, error=type(exc).__name__)
            return self._malformed(source, request, received_at, f"unparseable body ({type(exc).__name__})")
        try:
            # Outside the catch-all above: a database error here is not the body's fault.
            self._check_shared_limits(source, request, records, received_at)
        except RateLimited as exc:
            return _rate_limited(name, exc)
        except Exception as exc:
            if not unavailable(exc):
                raise
            return _not_stored(name, exc)

        if not stype.makes_leads:
            return self._dialer_events(source, request, received_at, records)
        pending = [self._prepare(source, record, received_at) for record in records]
        status = "invalid" if all(p.status == "invalid" for p in pending) else "accepted"
        try:
            stored = store_webhook(
                self.engine,
                source=name,
                received_at=received_at,
                pending=pending,
                sandbox=self.sandbox,
                event_status=status,
                reason=None,
                **self._event_fields(source, request),
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
            if source.reject_invalid and all(o.prior_status == "invalid" for o in stored.outcomes):
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
            if outcome.status == "invalid":
                entry["reasons"] = item.errors
            if outcome.status == "duplicate":
                entry["duplicate_of_event"] = outcome.duplicate_of_event
            if self.sandbox and outcome.status == "queued":
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
        if source.reject_invalid and all(o.status == "invalid" for o in stored.outcomes):
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
        ACK_SECONDS.labels(name).observe(self.clock() - received_at)
        return Answer(202, {"event_id": stored.event_id, "leads": entries})

    def _dialer_events(self, source: Source, request: Inbound, received_at: float, records: list[Record]) -> Answer:
        """A dialer's report on leads (ringcx): stored with its attempts, matched, answered 2xx; never a lead."""
        try:
            stored = record_events(self.engine, source, records, received_at, self._event_fields(source, request))
        except Exception as exc:
            if not unavailable(exc):
                raise
            return _not_stored(source.name, exc)
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
        ACK_SECONDS.labels(source.name).observe(self.clock() - received_at)
        return Answer(202, body)

    def _prepare(self, source: Source, record: Record, received_at: float) -> PendingLead:
        """prepare() one record, refusing it (never its batch-mates) when it cannot be mapped or stored."""
        try:
            item = prepare(source, record, received_at)
        except Exception as exc:
            log(logger, logging.WARNING, "record could not be mapped", source=source.name, error=type(exc).__name__)
            fallback = source.routes[-1]
            key, expires = _fallback_key(source, record, received_at)
            return PendingLead(
                status="invalid",
                priority=fallback.priority,
                campaign=fallback.campaign,
                record_key=key,
                key_expires_at=expires,
                record=record.fields,
                errors={"record": [f"could not be mapped ({type(exc).__name__})"]},
            )
        reason = unsafe_text(item.extern_id) or unsafe_text(item.lead) or unsafe_text(item.primary_phone)
        if reason and item.status not in ("invalid",):
            item.status, item.errors = "invalid", {"text": [reason]}
        if reason or item.status == "invalid":
            # Nothing of a refused record goes into a text column but its (escaped) JSON.
            item.extern_id = None if unsafe_text(item.extern_id) else item.extern_id
            item.lead, item.primary_phone = None, None
        return item

    def _check_shared_limits(self, source: Source, request: Inbound, records: list[Record], now: float) -> None:
        """Raise RateLimited when the database says this client or phone is over its limit (all processes)."""
        stype = handler_base.type_of(source.type)
        for kind, key, count, seconds in stype.shared_limits(source.settings, request, records):
            if recent_hits(self.engine, source.name, kind, key[:REMOTE_ADDR_MAX], now - seconds) >= count:
                raise RateLimited(f"too many submissions for this {'address' if kind == 'ip' else 'phone number'}")

    def _event_fields(self, source: Source, request: Inbound) -> dict[str, Any]:
        """The event row's request columns: configured secrets stripped, text the database can hold."""
        secrets = source_secrets(source.settings)
        stype = handler_base.type_of(source.type)
        address = stype.client_address(source.settings, request)
        return {
            "method": request.method,
            "path": audit_path(request.url, secrets),
            "content_type": (request.content_type or "")[:CONTENT_TYPE_MAX],
            "headers": audit_headers(request.headers, secrets),
            "body": request.body,
            "remote_addr": (address or "")[:REMOTE_ADDR_MAX],
        }

    def _too_many(self, source: Source, request: Inbound, received_at: float, count: int) -> Answer:
        """Over max_records: 413, no lead created, the raw request kept as an event for audit."""
        reason = f"too_many_records: {count} records, the limit is {source.max_records}"
        kept = self._keep_raw(source, request, received_at, reason)
        if isinstance(kept, Answer):
            return kept
        log(logger, logging.WARNING, "webhook refused", source=source.name, event_id=kept, reason=reason)
        WEBHOOKS.labels(source.name, "413").inc()
        return Answer(
            413,
            {"error": "too_many_records", "limit": source.max_records, "records": count, "event_id": kept},
        )

    def _malformed(self, source: Source, request: Inbound, received_at: float, reason: str) -> Answer:
        """Store an unparseable body with its reason; 400 for developers, 2xx for senders that retry."""
        kept = self._keep_raw(source, request, received_at, reason)
        if isinstance(kept, Answer):
            return kept
        log(logger, logging.WARNING, "webhook malformed", source=source.name, event_id=kept, reason=reason)
        if source.reject_invalid:
            WEBHOOKS.labels(source.name, "400").inc()
            return Answer(400, {"error": "malformed", "detail": reason, "event_id": kept})
        WEBHOOKS.labels(source.name, "malformed").inc()
        return Answer(202, {"event_id": kept, "status": "malformed", "detail": reason, "leads": []})

    def _keep_raw(self, source: Source, request: Inbound, received_at: float, reason: str) -> int | Answer:
        """Store the raw request as a `malformed` event with its reason: its id, or the 503 when it cannot be."""
        try:
            stored = store_webhook(
                self.engine,
                source=source.name,
                received_at=received_at,
                pending=[],
                sandbox=self.sandbox,
                event_status="malformed",
                reason=reason,
                **self._event_fields(source, request),
            )
        except Exception as exc:
            if not unavailable(exc):
                raise
            return _not_stored(source.name, exc)
        return stored.event_id


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
