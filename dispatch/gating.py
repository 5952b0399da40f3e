"""The compliance gates at claim time: every claimed lead is re-checked against the current config.

Between claim and send, each lead goes through compliance.gates.evaluate with the database's
facts (do-not-call list, loads of its numbers in the last 24 h, its retain history). The lane then
sends the loadable ones (a MANUAL lead goes to consent.manual_campaign) and settles the others
deferred or blocked. Every decision is written to compliance_evidence with its inputs, and each
load counted for the caps, in one transaction before the send.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import Connection, Engine

from compliance.consent import evidence_of
from compliance.gates import CAP, CAP_WINDOW, CONSENT, WINDOW, Action, Facts, Gate, GateResult, GateSettings, evaluate
from compliance.places import place_of
from config import Source
from dispatch.backoff import backoff
from dispatch.retainer import Retainer
from lead.lifecycle import LeadStatus as S
from logs import log
from store import compliance as evidence
from store import dnc as dnc_list
from store.compliance import release_deferred
from store.db import write
from store.queue import ClaimedLead, Settlement
from store.schema import leads

logger = logging.getLogger("leadrelay.compliance")
RELEASE_POLL = 60.0  # deferred leads are looked for at least this often (another leader may have deferred them)
RETAIN_WAIT = 1.0  # the longest a claim waits for this process's retains in flight
INTAKE_GRACE = 10.0  # intake's own retain is likely in flight this long after receipt

DncLookup = Callable[[Connection, list[str]], set[str]]  # the numbers among these on the list


class GateBook:
    """Each source's gate settings in this process's Engage mode, built once per source."""

    def __init__(self, sources: Mapping[str, Source], default_off: str | None, path: str = "leadrelay.yml") -> None:
        """`sources` as configured; `default_off` (sandbox, CALLING_WINDOWS=off) turns the windows' default off."""
        self.sources, self.default_off, self.path = sources, default_off, path
        self._built: dict[str, GateSettings] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> GateSettings | None:
        """The source's gates, or None for a source no longer configured."""
        with self._lock:
            if name not in self._built and name in self.sources:
                self._built[name] = self.sources[name].gates(self.default_off, self.path)
            return self._built.get(name)

    def retains(self, name: str) -> bool:
        """Whether leads of this source may need a TrustedForm retain."""
        gates = self(name)
        return gates is not None and bool(gates.consent.trustedform_api_key) and gates.consent.require != "none"


@dataclass(frozen=True)
class Screened:
    """One claimed lead's verdict at claim time."""

    lead: ClaimedLead
    result: GateResult


class Gatekeeper:
    """Runs the gates for a lane's claimed leads; owns no state but the retainer it nudges."""

    def __init__(
        self,
        engine: Engine,
        gates_for: Callable[[str], GateSettings | None],
        retainer: Retainer | None,
        dnc: DncLookup = dnc_list.listed,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`gates_for(source)`: the source's settings now (a reload applies to waiting leads)."""
        self.engine = engine
        self.gates_for = gates_for
        self.retainer = retainer
        self.dnc = dnc
        self.clock = clock
        self._next_release = 0.0  # the first call releases every deferred lead: re-checked with today's config
        self._lock = threading.Lock()

    def release_due(self) -> int:
        """Put deferred leads whose time has come back in the queue (their clock starts at the opening)."""
        now = self.clock()
        with self._lock:
            if now < self._next_release:
                return 0
            first = self._next_release == 0.0
            self._next_release = now + RELEASE_POLL
        released = release_deferred(self.engine, now, everything=first)
        with self.engine.connect() as conn:
            nxt = conn.execute(select(func.min(leads.c.next_attempt_at)).where(leads.c.status == S.DEFERRED)).scalar()
        if nxt is not None:
            with self._lock:
                self._next_release = min(self._next_release, float(nxt))
        return released

    def settlements(self, screened: Sequence[Screened]) -> tuple[list[ClaimedLead], list[Settlement]]:
        """The leads to send now (a manual one with its campaign changed) and the others' settlements."""
        send: list[ClaimedLead] = []
        settle: list[Settlement] = []
        now = self.clock()
        for item in screened:
            result, lead = item.result, item.lead
            if result.action is Action.LOAD:
                send.append(lead)
            elif result.action is Action.MANUAL and result.campaign:
                lead.campaign = result.campaign
                send.append(lead)
            else:
                status = S.DEFERRED if result.action is Action.DEFER else S.BLOCKED
                delay = max(0.0, (result.next_attempt_at or now) - now)
                settle.append(
                    Settlement(
                        lead.id, status, error=explain(result), delay=delay, count_attempt=False, reason=result.gate
                    )
                )
        return send, settle

    def screen(self, claimed: Sequence[ClaimedLead]) -> list[Screened]:
        """Evaluate every claimed lead and record each decision; loads are counted for the caps."""
        if not claimed:
            return []
        ids = [c.id for c in claimed]
        # Outside the write lock (the zip index may load), and while TrustedForm answers.
        places = {c.id: place_of(c.lead) for c in claimed}
        if self.retainer is not None:
            # Retains started at intake are usually a round trip from done: wait for them here (outside
            # any transaction) rather than defer the lead and claim it again.
            self.retainer.wait(ids, RETAIN_WAIT)
        now = self.clock()
        rows: list[evidence.EvidenceRow] = []
        out: list[Screened] = []
        retain_now: list[int] = []
        clocks: dict[int, float | None] = {}
        with write(self.engine) as conn:
            records: dict[int, dict[str, Any]] = {}
            for r in conn.execute(select(leads.c.id, leads.c.record, leads.c.clock_from).where(leads.c.id.in_(ids))):
                records[r.id] = json.loads(r.record or "{}")
                clocks[r.id] = r.clock_from
            states = evidence.retain_states(conn, ids)
            listed = self.dnc(conn, sorted({p for place in places.values() for p in place.phones_e164}))
            for lead in claimed:
                gates = self.gates_for(lead.source) or GateSettings()
                place = places[lead.id]
                found = evidence_of(records.get(lead.id, {}), gates.consent)
                state = states.get(lead.id)
                facts = Facts(
                    on_dnc=any(p in listed for p in place.phones_e164),
                    loads_24h=evidence.loads_within(conn, place.phones_e164, now - CAP_WINDOW, exclude_lead=lead.id),
                    last_retain=state.last if state else None,
                    waited=now - state.first_at if state and state.first_at is not None else 0.0,
                    retain_attempts=state.attempts if state else 0,
                )
                result = evaluate(place, found, lead.campaign, facts, gates, now)
                if result.needs_retain and self._retain_due(lead, state, now):
                    retain_now.append(lead.id)
                if result.action in (Action.LOAD, Action.MANUAL):
                    evidence.record_loads(conn, lead.id, place.phones_e164, now)
                rows.append(
                    evidence.EvidenceRow(
                        lead_id=lead.id,
                        source=lead.source,
                        extern_id=lead.extern_id,
                        phones=place.phones_e164,
                        email=lead.lead.get("email"),
                        cert_id=found.cert_id,
                        gate=(result.gate or Action.LOAD).value,
                        decision=result.action.value,
                        detail=result.details,
                        decided_at=now,
                        evidence_days=gates.evidence_days,
                    )
                )
                out.append(Screened(lead, result))
            evidence.record(conn, rows)
        for lead in claimed:
            lead.clock_from = clocks.get(lead.id)
        waits = [s.result.next_attempt_at for s in out if s.result.action is Action.DEFER and s.result.next_attempt_at]
        if waits:
            with self._lock:
                self._next_release = min(self._next_release, *waits)
        if retain_now and self.retainer is not None:
            self.retainer.submit(retain_now)
        for s in out:
            if s.result.alert:
                log(logger, logging.WARNING, "ALERT consent check waiting on TrustedForm", lead_id=s.lead.id)
                break
        return out

    def _retain_due(self, lead: ClaimedLead, state: evidence.RetainState | None, now: float) -> bool:
        """Whether to ask TrustedForm (again) for this lead now."""
        if self.retainer is None or self.retainer.busy(lead.id):
            return False
        if state is None or state.last_at is None:
            # Intake retains at receipt; step in when that never happened (a process died, a replay).
            return now - lead.received_at >= INTAKE_GRACE
        return now >= state.last_at + backoff(state.attempts - 1, 2.0, 60.0)


def explain(result: GateResult) -> str:
    """A person's one line for last_error: which gate, and the rule or reason it gave."""
    gate = result.gate.value if result.gate else "gates"
    details = result.details
    if result.gate is Gate.CALLING_WINDOW:
        return f"{gate}: {details[WINDOW]['rule']}"[:500]
    if result.gate in (Gate.CONSENT, Gate.CONSENT_CHECK):
        return f"{gate}: {details[CONSENT]['why']}"[:500]
    if result.gate is Gate.FREQUENCY_CAP:
        cap = details[CAP]
        return f"{gate}: {cap['loads_24h']} load(s) in 24 h, {cap['state']} allows {cap['cap']}"
    return f"{gate}: a number is on the do-not-call list"
