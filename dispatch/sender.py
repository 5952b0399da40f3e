"""Send and settle: one lead-loader call per batch, then each lead settled by what Engage answered."""

from __future__ import annotations

import logging
import time
from typing import Any

from dispatch.batching import Batch, CallOptions
from dispatch.core import DispatcherCore
from dispatch.fates import UNKNOWN, unsure
from dispatch.holds import OUTAGE
from engage.errors import (
    AuthError,
    BatchRejected,
    CampaignError,
    EngageError,
    ExchangeThrottled,
    Throttled,
    Unavailable,
)
from lead.lifecycle import LeadReason, LeadStatus
from logs import log
from metrics import DISPATCHED, ENGAGE_CALLS, SPEED_TO_LEAD
from store.lease import EngageState
from store.queue import ClaimedLead, Settlement

logger = logging.getLogger("leadrelay.dispatch")

# What each lead keeps of Engage's answer: the counts and status, not every batch-mate's rejected row.
SUMMARY_KEYS = (
    "processingResult",
    "processingStatus",
    "message",
    "leadsSupplied",
    "leadsAccepted",
    "leadsInserted",
    "dncReturnedCount",
)


def summary(result: Any) -> dict[str, Any]:
    """Engage's answer as kept on each lead of the call."""
    raw = result.raw if isinstance(result.raw, dict) else {}
    return {"http_status": result.status, **{k: raw[k] for k in SUMMARY_KEYS if k in raw}}


class Sending(DispatcherCore):
    """`_send` makes the call; the other methods settle a batch by the outcome."""

    def _send(self, batch: Batch, epoch: int) -> None:
        """One lead-loader call for `batch` (leads of unknown fate looked up first), then settle each lead."""
        backend = self.backend
        assert backend is not None  # lanes run only once the leader has built it
        opts = batch.options
        leads = batch.leads
        campaign = opts.campaign
        try:
            campaign_id = backend.directory.resolve(campaign)
            leads = self._look_up_first(leads, campaign_id, epoch)
            if not leads:
                return
            result = backend.client.load_leads(
                campaign_id,
                [c.lead for c in leads],
                dial_priority=opts.dial_priority,
                duplicate_handling=opts.duplicate_handling,
                time_zone_option=opts.time_zone_option,
                description=opts.description,
            )
        except CampaignError as exc:
            self._campaign_failed(leads, campaign, exc, epoch)
            return
        except ExchangeThrottled as exc:
            # The token budget is spent (or RingCentral throttles): wait it out; not a credentials problem.
            ENGAGE_CALLS.labels("429").inc()
            wait = (
                exc.retry_after if exc.retry_after is not None else self._backoff(0, cap=self.cfg["outage_probe_cap"])
            )
            self.holds.wait_out(wait)
            self._retry(
                leads,
                f"token exchange throttled; waiting {wait:.1f}s",
                epoch,
                LeadReason.TOKEN_EXCHANGE,
                delay=wait,
                count_attempt=False,
            )
            return
        except AuthError as exc:
            self._account_failed(leads, exc, epoch)
            return
        except Throttled as exc:
            ENGAGE_CALLS.labels("429").inc()
            pause = self.limiter.throttled(exc.retry_after, self._backoff(max(c.attempts for c in leads)))
            self._retry(leads, f"throttled (429); pausing {pause:.1f}s", epoch, LeadReason.THROTTLE, delay=pause)
            return
        except BatchRejected as exc:
            ENGAGE_CALLS.labels("400").inc()
            if len(leads) > 1:
                # One bad row must not sink its batch-mates: split and send the halves.
                log(logger, logging.WARNING, "batch rejected; splitting", size=len(leads))
                lane = leads[0].priority
                for part in Batch(opts, leads).split():
                    self._await_slot(lane, self.NORMAL_RESERVE if lane == "NORMAL" else 0.0)
                    self._send(part, epoch)
                return
            self._settle(leads, LeadStatus.REJECTED, epoch, error=f"Engage rejected the lead (400): {exc.body or exc}")
            return
        except Unavailable as exc:
            ENGAGE_CALLS.labels("unavailable").inc()
            self._unavailable(leads, exc, epoch)
            return
        except EngageError as exc:
            ENGAGE_CALLS.labels("error").inc()
            self._retry(leads, f"Engage error: {exc}", epoch, LeadReason.ENGAGE_ERROR)
            return
        except Exception as exc:  # a bug or a poison lead: this claim stays counted, dead after max_claims
            log(logger, logging.ERROR, "send crashed", error=repr(exc), leads=[c.id for c in leads])
            self._store(
                epoch,
                [
                    Settlement(
                        c.id,
                        LeadStatus.QUEUED,
                        error=f"{UNKNOWN}crash: {exc!r}",
                        count_attempt=False,
                        crashed=True,
                        reason=LeadReason.CRASH_RECOVERY,
                        unknown_fate=True,
                        delay=self._backoff(c.claims),
                    )
                    for c in leads
                ],
            )
            return
        ENGAGE_CALLS.labels("ok").inc()
        self.limiter.succeeded()
        self._engage_answered(campaign)
        if result.general_failure:
            self._retry(
                leads, "GENERAL_FAILURE from the lead loader", epoch, LeadReason.ENGAGE_ERROR, response=result.raw
            )
            return
        self._loaded(opts, leads, result, campaign_id, epoch)

    def _loaded(self, opts: CallOptions, leads: list[ClaimedLead], result: Any, campaign_id: Any, epoch: int) -> None:
        """Engage took the call: each lead is delivered, or rejected with Engage's reason for it."""
        backend = self.backend
        assert backend is not None
        sandbox = str(backend.sandbox).lower()
        settlements = []
        answer = summary(result)
        for lead in leads:
            if lead.extern_id in result.rejected:
                settlements.append(
                    Settlement(lead.id, LeadStatus.REJECTED, error=result.rejected[lead.extern_id], response=answer)
                )
                DISPATCHED.labels(LeadStatus.REJECTED, sandbox).inc()
            else:
                settlements.append(Settlement(lead.id, LeadStatus.DELIVERED, response=answer))
                DISPATCHED.labels(LeadStatus.DELIVERED, sandbox).inc()
                SPEED_TO_LEAD.labels(lead.priority).observe(time.time() - lead.received_at)
        written = self._store(epoch, settlements)
        self._set_state(EngageState.SANDBOX if backend.sandbox else EngageState.OK)
        log(
            logger,
            logging.INFO,
            "leads loaded" + (" (SANDBOX: nothing was dialed)" if backend.sandbox else ""),
            campaign=opts.campaign,
            campaign_id=campaign_id,
            dial_priority=opts.dial_priority,
            sent=len(leads),
            rejected=len(result.rejected),
            settled=written,
            sandbox=backend.sandbox,
            ms=round(result.elapsed * 1000, 1),
            lead_ids=[c.id for c in leads],
        )

    def _engage_answered(self, campaign: str) -> None:
        """Engage answered a call: close the outage (its leads become due at once) and this campaign's breaker."""
        if not self.holds.answered(campaign):
            return
        try:
            count: int | None = self.queue.expedite(LeadReason.OUTAGE)
        except Exception as exc:  # they come due on their own schedule anyway
            count = None
            log(logger, logging.WARNING, "could not expedite leads after the outage", error=repr(exc)[:200])
        log(logger, logging.INFO, "Engage answers again; leads waiting for it are due now", leads=count)
        self.waker.wake()

    def _unavailable(self, leads: list[ClaimedLead], exc: Unavailable, epoch: int) -> None:
        """5xx, timeouts, refused connections: the whole account waits for one probe; unknown fates are marked."""
        unknown = exc.fate_unknown
        if exc.status is not None and 200 <= exc.status < 300:
            # Engage answered, unreadably: not an outage. Look the leads up before resending them.
            self._retry(leads, str(exc), epoch, LeadReason.ENGAGE_ERROR, delay=self._backoff(0), unknown_fate=unknown)
            return
        self._set_state(EngageState.DEGRADED, str(exc))
        # An outage is account-wide: every lead waits for one probe instead of each backing
        # off on its own, so the queue drains the moment Engage answers again.
        cap = min(self.cfg["outage_probe_cap"], self.cfg["backoff_cap"])
        delay = self.holds.outage(self.cfg["backoff_base"], cap, self.rng)
        self._retry(leads, f"{OUTAGE}{exc}", epoch, LeadReason.OUTAGE, delay=delay, unknown_fate=unknown)

    def _look_up_first(self, leads: list[ClaimedLead], campaign_id: Any, epoch: int) -> list[ClaimedLead]:
        """Look up leads whose last call may have landed; settle the found ones and return the rest to send.

        Doubtful leads (unknown fate, or a claim that never settled) are searched with leadSearch; those
        Engage has are settled `delivered`. REMOVE_FROM_LIST de-duplicates only within one upload, so a
        blind resend could dial twice.
        """
        doubtful = [c for c in leads if unsure(c)]
        if not doubtful:
            return leads
        assert self.backend is not None
        try:
            found = self.fates.loaded(self.backend.client, campaign_id, doubtful)
        except Throttled as exc:
            # leadSearch has its own budget: wait for it without pausing the lead loader.
            wait = exc.retry_after if exc.retry_after is not None else self._backoff(0)
            self._retry(leads, "lookup throttled (429)", epoch, LeadReason.THROTTLE, delay=wait, count_attempt=False)
            return []
        if found is None:  # lead search refused: resend, counted as undecided
            return leads
        if found:
            answer = {"found_by": "leadSearch", "campaign_id": campaign_id}
            self._store(
                epoch,
                [Settlement(c.id, LeadStatus.DELIVERED, response=answer) for c in doubtful if c.extern_id in found],
            )
            log(
                logger,
                logging.INFO,
                "leads already in Engage (found by lookup); not resent",
                count=len(found),
                lead_ids=[c.id for c in doubtful if c.extern_id in found],
            )
        for lead in doubtful:
            lead.unknown_fate = False  # looked up: it is not loaded, so a failure now is a plain failure
        return [c for c in leads if c.extern_id not in found]

    def _requeue(self, leads: list[ClaimedLead], epoch: int) -> None:
        """Hand claimed leads back untouched (no attempt burns): a gate closed after they were claimed."""
        self._store(
            epoch,
            [
                Settlement(
                    c.id,
                    LeadStatus.RETRYING,
                    error=c.last_error,
                    count_attempt=False,
                    unknown_fate=c.unknown_fate,
                )
                for c in leads
            ],
        )

    def _settle(
        self,
        leads: list[ClaimedLead],
        status: LeadStatus,
        epoch: int,
        error: str,
        count_attempt: bool = True,
        reason: LeadReason | None = None,
    ) -> None:
        """Settle every lead of the batch the same way."""
        self._store(
            epoch, [Settlement(c.id, status, error=error, count_attempt=count_attempt, reason=reason) for c in leads]
        )
        sandbox = str(bool(self.backend and self.backend.sandbox)).lower()
        for _ in leads:
            DISPATCHED.labels(status, sandbox).inc()

    def _retry(
        self,
        leads: list[ClaimedLead],
        error: str,
        epoch: int,
        reason: LeadReason,
        delay: float | None = None,
        response: Any = None,
        count_attempt: bool = True,
        unknown_fate: bool = False,
    ) -> None:
        """Schedule another attempt for `reason`, or declare the lead dead once its retry budget is spent.

        A lead whose earlier call may have landed keeps that mark (unknown_fate) until a lookup settles it;
        its last_error says so too, for people.
        """
        now = time.time()
        out = []
        sandbox = str(bool(self.backend and self.backend.sandbox)).lower()
        for lead in leads:
            unknown = unknown_fate or lead.unknown_fate
            mark = UNKNOWN if unknown else ""
            if now - lead.clock > self.cfg["retry_budget"]:
                out.append(
                    Settlement(
                        lead.id, LeadStatus.DEAD, error=f"retry budget spent; last error: {error}", response=response
                    )
                )
                DISPATCHED.labels(LeadStatus.DEAD, sandbox).inc()
            else:
                out.append(
                    Settlement(
                        lead.id,
                        LeadStatus.RETRYING,
                        error=mark + error,
                        response=response,
                        count_attempt=count_attempt,
                        delay=delay if delay is not None else self._backoff(lead.attempts),
                        reason=reason,
                        unknown_fate=unknown,
                    )
                )
        self._store(epoch, out)
        log(logger, logging.WARNING, "leads will be retried", error=error, count=len(leads))

    def _campaign_failed(self, leads: list[ClaimedLead], campaign: str, exc: CampaignError, epoch: int) -> None:
        """Re-resolve the name once; if it still fails, open this campaign's breaker and hold its leads."""
        ENGAGE_CALLS.labels("campaign_error").inc()
        if self.backend is not None and self.holds.first_failure(campaign):
            try:
                self.backend.directory.refresh()
                new_id = self.backend.directory.resolve(campaign)
                log(logger, logging.INFO, "campaign re-resolved", campaign=campaign, campaign_id=new_id)
            except Exception:  # still unknown after a fresh listing: the breaker opens below
                new_id = None
            if new_id is not None:
                self.holds.re_resolved(campaign)
                self._retry(leads, f"campaign error, re-resolved: {exc}", epoch, LeadReason.ENGAGE_ERROR, delay=0.0)
                return
        probe = self.holds.open_breaker(campaign, self.cfg["hold_probe"])
        self._settle(
            leads,
            LeadStatus.HELD,
            epoch,
            error=f"campaign {campaign!r}: {exc}",
            count_attempt=False,
            reason=LeadReason.CAMPAIGN_HOLD,
        )
        held = self.queue.hold_queued(campaign, f"campaign {campaign!r} breaker open: {exc}")
        log(
            logger,
            logging.ERROR,
            "campaign breaker open; its leads are held",
            campaign=campaign,
            error=str(exc),
            held=held + len(leads),
            probe_in=round(probe, 1),
        )

    def _account_failed(self, leads: list[ClaimedLead], exc: AuthError, epoch: int) -> None:
        """Credentials refused: hold every lead (no attempts burn); the leader loop tries for a token later."""
        ENGAGE_CALLS.labels("auth_error").inc()
        probe = self.holds.hold_account(self.cfg["hold_probe"])
        # Published before the leads are: whoever sees a held lead also sees the account held and the
        # ALERT in the log (logged after the settle, an operator could find held leads and no alert yet).
        self._set_state(EngageState.HELD, f"authentication failed: {exc}")
        log(
            logger,
            logging.ERROR,
            "ALERT: Engage authentication failing; all leads held",
            error=str(exc),
            probe_in=round(probe, 1),
        )
        self._settle(
            leads,
            LeadStatus.HELD,
            epoch,
            error=f"Engage authentication failed: {exc}",
            count_attempt=False,
            reason=LeadReason.ACCOUNT_HOLD,
        )
        self.queue.hold_queued(None, f"Engage authentication failed: {exc}")
