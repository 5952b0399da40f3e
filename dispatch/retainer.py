"""TrustedForm retains off the request path, many at once, as soon as a lead is stored.

Intake submits each stored lead of a source that requires consent; the dispatcher's claim-time
gate submits again when a lead has no answer yet or TrustedForm was unavailable (after a backoff),
so a retain lost with a process is redone. Each attempt is one evidence row (gate `retain`), which
is all the claim-time gate reads: retains and loads share no memory, only the database.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from compliance.consent import evidence_of
from compliance.gates import GateSettings
from compliance.places import lead_phones
from compliance.trustedform import TrustedFormClient, Verdict
from engage.http import make_session
from logs import log
from store import compliance as evidence
from store.db import write
from store.schema import leads

logger = logging.getLogger("leadrelay.compliance")
WORKERS = 32  # a 600-lead burst at 50 ms a retain takes ~1 s, not 30 s


@dataclass(frozen=True)
class Known:
    """What intake already holds about a stored lead, so its retain starts without a read."""

    source: str
    extern_id: str | None
    campaign: Any
    lead: Mapping[str, Any]
    record: Mapping[str, Any]


def match_phone(e164: str | None) -> str:
    """The number as a form records it: 10 digits for NANP, else E.164."""
    if e164 and e164.startswith("+1") and len(e164) == 12:
        return e164[2:]
    return e164 or ""


class Retainer:
    """A pool of threads retaining certificates; one in-flight retain per lead."""

    def __init__(
        self,
        engine: Engine,
        gates_for: Callable[[str], GateSettings | None],
        workers: int = WORKERS,
        clock: Callable[[], float] = time.time,
        wake: Callable[[], None] | None = None,
    ) -> None:
        """`gates_for(source)` gives a source's gate settings (None: unknown source); `wake` the lanes."""
        self.engine = engine
        self.gates_for = gates_for
        self.clock = clock
        self.wake = wake
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="retain")
        self._session = make_session(pool_maxsize=workers)
        self._clients: dict[tuple[str, str, str], TrustedFormClient] = {}
        self._inflight: dict[int, threading.Event] = {}  # lead id → set when its retain is recorded
        self._lock = threading.Lock()

    def submit(self, lead_ids: Iterable[int], known: Mapping[int, Known] | None = None) -> None:
        """Queue retains for these leads (those already in flight are skipped); never blocks."""
        with self._lock:
            fresh = [i for i in lead_ids if i not in self._inflight]
            self._inflight.update((i, threading.Event()) for i in fresh)
        for lead_id in fresh:
            self._pool.submit(self._run, lead_id, (known or {}).get(lead_id))

    def busy(self, lead_id: int) -> bool:
        """Whether a retain for this lead is in flight in this process."""
        with self._lock:
            return lead_id in self._inflight

    def wait(self, lead_ids: Iterable[int], timeout: float) -> None:
        """Wait (at most `timeout` in all) for these leads' retains in flight here to be recorded."""
        deadline = time.monotonic() + timeout
        with self._lock:
            events = [self._inflight[i] for i in lead_ids if i in self._inflight]
        for event in events:
            if not event.wait(max(0.0, deadline - time.monotonic())):
                return

    def idle(self) -> bool:
        """Whether no retain is queued or in flight."""
        with self._lock:
            return not self._inflight

    def close(self) -> None:
        """Finish the retains in flight and stop; queued ones are dropped (the claim-time gate redoes them)."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _client(self, gates: GateSettings) -> TrustedFormClient:
        """One client per key/base/match, sharing the pool's keep-alive session."""
        c = gates.consent
        key = (c.trustedform_api_key or "", c.trustedform_api_base, c.trustedform_match)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = TrustedFormClient(key[0], key[1], key[2], session=self._session)
            return self._clients[key]

    def _run(self, lead_id: int, known: Known | None) -> None:
        """Retain one lead's certificate and record the answer; a failure is logged, never raised."""
        try:
            self._retain(lead_id, known or self._read(lead_id))
        except Exception as exc:  # a pool thread must not die silently; the claim-time gate resubmits
            log(logger, logging.ERROR, "retain failed", lead_id=lead_id, error=repr(exc)[:300])
        finally:
            with self._lock:
                done = self._inflight.pop(lead_id, None)
            if done is not None:
                done.set()

    def _read(self, lead_id: int) -> Known | None:
        """The lead's facts from the database (a retain the claim asked for, or after a restart)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(leads.c.source, leads.c.extern_id, leads.c.campaign, leads.c.lead, leads.c.record).where(
                    leads.c.id == lead_id
                )
            ).one_or_none()
        if row is None:
            return None
        return Known(
            row.source, row.extern_id, row.campaign, json.loads(row.lead or "{}"), json.loads(row.record or "{}")
        )

    def _retain(self, lead_id: int, row: Known | None) -> None:
        """Call TrustedForm once for the lead's certificate and write the evidence row."""
        if row is None:
            return
        gates = self.gates_for(row.source)
        campaign = None if row.campaign is None else str(row.campaign)
        if gates is None or not gates.consent.trustedform_api_key or not gates.consent.required_for(campaign):
            return
        found = evidence_of(row.record, gates.consent)
        if found.cert_id is None:
            return  # no certificate, or one refused by the strict check: no request, ever
        lead = row.lead
        phones = lead_phones(lead)
        email = lead.get("email")
        result = self._client(gates).retain(
            found.cert_id,
            phone=match_phone(phones[0] if phones else None),
            email=email,
            reference=f"leadrelay lead {lead_id} ({row.source}/{row.extern_id or '-'})",
            vendor=row.source,
        )
        now = self.clock()
        with write(self.engine) as conn:
            # A lead already waiting for this answer (deferred) is due again now: the gate decides at once.
            woken = evidence.release_waiting(conn, lead_id, now) if result.verdict is not Verdict.UNAVAILABLE else 0
            evidence.record(
                conn,
                [
                    evidence.EvidenceRow(
                        lead_id=lead_id,
                        source=row.source,
                        extern_id=row.extern_id,
                        phones=phones,
                        email=email,
                        cert_id=found.cert_id,
                        gate=evidence.RETAIN_GATE,
                        decision=result.verdict.value,
                        detail=result.record(),
                        decided_at=now,
                        evidence_days=gates.evidence_days,
                    )
                ],
            )
        if woken and self.wake is not None:
            self.wake()
        if result.verdict is Verdict.UNAVAILABLE:
            log(
                logger,
                logging.WARNING,
                "ALERT TrustedForm unavailable: consent waits (deferred), retried with backoff",
                lead_id=lead_id,
                status=result.status,
                reason=result.reason,
            )
