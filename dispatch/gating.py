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

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine

from compliance.consent import evidence_of
from compliance.gates import CAP_WINDOW, Action, Facts, GateResult, GateSettings, evaluate
from compliance.places import place_of
from config import Source
from dispatch.backoff import backoff
from dispatch.retainer import Retainer
from logs import log
from store import compliance as evidence
from store.db import write
from store.queue import ClaimedLead
from store.schema import leads

logger = logging.getLogger("leadrelay.compliance")
INTAKE_GRACE = 10.0  # intake's own retain is likely in flight this long after receipt

DncLookup = Callable[[Connection, list[str]], set[str]]  # the numbers among these on the list


def no_dnc_list(conn: Connection, phones: list[str]) -> set[str]:
    """Stand-in until the do-not-call list (store/dnc.py) is wired: no number is on it."""
    return set()


class GateBook:
    """Each source's gate settings in this process's Engage mode, built once per source."""

    def __init__(self, sources: Mapping[str, Source], sandbox: bool, path: str = "leadrelay.yml") -> None:
        """`sources` as configured; `sandbox` turns the windows' default off."""
        self.sources, self.sandbox, self.path = sources, sandbox, path
        self._built: dict[str, GateSettings] = {}
        self._lock = threading.Lock()

    def __call__(self, name: str) -> GateSettings | None:
        """The source's gates, or None for a source no longer configured."""
        with self._lock:
            if name not in self._built and name in self.sources:
                self._built[name] = self.sources[name].gates(self.sandbox, self.path)
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
        dnc: DncLookup = no_dnc_list,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`gates_for(source)`: the source's settings now (a reload applies to waiting leads)."""
        self.engine = engine
        self.gates_for = gates_for
        self.retainer = retainer
        self.dnc = dnc
        self.clock = clock

    def screen(self, claimed: Sequence[ClaimedLead]) -> list[Screened]:
        """Evaluate every claimed lead and record each decision; loads are counted for the caps."""
        if not claimed:
            return []
        now = self.clock()
        ids = [c.id for c in claimed]
        rows: list[evidence.EvidenceRow] = []
        out: list[Screened] = []
        retain_now: list[int] = []
        with write(self.engine) as conn:
            records = {
                r.id: json.loads(r.record or "{}")
                for r in conn.execute(select(leads.c.id, leads.c.record).where(leads.c.id.in_(ids)))
            }
            states = evidence.retain_states(conn, ids)
            places = {c.id: place_of(c.lead) for c in claimed}
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
