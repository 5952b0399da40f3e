"""Leadership: contend for the lease, keep it while the lanes send, release it on the way out."""

from __future__ import annotations

import logging
import threading
import time

from dispatch.backstop import DialBackstop
from dispatch.core import DispatcherCore
from dispatch.fetcher import FetchPool
from engage.errors import AuthError
from handlers import base as handler_base
from logs import log
from metrics import IS_LEADER
from store.lease import EngageState

logger = logging.getLogger("leadrelay.dispatch")


class Leadership(DispatcherCore):
    """The leader loop (`run`): lease, renewal from the lanes' progress, the account-hold probe, chores."""

    def run(self, stop: threading.Event) -> None:
        """Stand by until leader, then keep the lease while the lanes send; release it on the way out.

        Nothing in here may end the loop but `stop`: a database or Engage error is logged, waited
        out and retried, and leadership is re-contended once the database answers again.
        """
        log(logger, logging.INFO, "dispatcher starting", holder=self.holder)
        self.threads = [
            threading.Thread(target=self._lane_loop, args=(lane,), name=f"leadrelay-lane-{lane.lower()}", daemon=True)
            for lane in self.LANES
        ]
        self.threads.append(
            threading.Thread(target=self.jobs.run, args=(self.lanes_stop,), name="leadrelay-jobs", daemon=True)
        )
        if any(handler_base.type_of(s.type).fetches for s in self.sources.values()):
            retainer = self.gates.retainer if self.gates is not None else None
            pool = FetchPool(
                self.engine,
                self.sources,
                self.cfg,
                self.lease,
                self.waker,
                on_queued=retainer.submit if retainer is not None else None,
            )
            self.threads.append(
                threading.Thread(target=pool.run, args=(self.lanes_stop,), name="leadrelay-fetch-loop", daemon=True)
            )
        if any(handler_base.type_of(s.type).makes_leads is False for s in self.sources.values()):
            # A dialer reports back (ringcx): ask it about loaded leads it has not mentioned.
            backstop = DialBackstop(self.engine, lambda: self.backend, lambda: self.lease.epoch is not None)
            self.threads.append(
                threading.Thread(
                    target=backstop.run, args=(self.lanes_stop,), name="leadrelay-dial-backstop", daemon=True
                )
            )
        self.started = False
        failures = 0
        try:
            while not stop.is_set():
                try:
                    pause = self._tick()
                    if failures:
                        log(logger, logging.INFO, "dispatcher loop recovered", after_failures=failures)
                    failures = 0
                except Exception as exc:  # database gone, a bug: log, back off a little, carry on
                    failures += 1
                    self._tick_failed(exc, failures)
                    pause = min(2.0, 0.25 * failures, self.cfg["lease_seconds"] / 2)
                stop.wait(pause)
        finally:
            self._shutdown()

    def _tick(self) -> float:
        """One pass of the leader loop; returns how long to wait before the next."""
        if self.lease.epoch is None:
            if not self._become_leader():
                # Standbys look often so a lapsed lease is taken within a fraction of it.
                return float(min(self.cfg["poll_interval"], self.cfg["lease_seconds"] / 8))
            if not self.started:
                for thread in self.threads:
                    thread.start()
                self.started = True
        self._keep_lease()
        self.housekeeping.flush_rate_log()
        self.housekeeping.purge_if_due()
        self._probe_account_hold()
        return float(self.cfg["lease_seconds"] / 8)

    def _tick_failed(self, exc: Exception, failures: int) -> None:
        """Log a failed pass; once the lease must have lapsed, stop acting as leader until re-acquired."""
        if failures == 1 or failures % 20 == 0:
            log(logger, logging.ERROR, "dispatcher loop error; retrying", error=repr(exc)[:300], failures=failures)
        if self.lease.epoch is not None and time.monotonic() - self.renewed_at > self.cfg["lease_seconds"] * 0.75:
            self.lease.epoch = None  # lanes stop claiming; settles are fenced by the epoch anyway
            IS_LEADER.set(0)
            log(
                logger,
                logging.WARNING,
                "dispatcher cannot renew its lease; standing by until the database answers",
                holder=self.holder,
            )

    def _shutdown(self) -> None:
        """Graceful stop: lanes stop claiming, the call in flight settles, then the lease goes."""
        self.lanes_stop.set()
        self.waker.wake()
        for thread in self.threads:
            if thread.is_alive():
                # Long enough for a normal call to finish and settle; a wedged one is reclaimed (and
                # looked up) by the next leader instead of holding the shutdown.
                thread.join(min(self.stuck_after, 20.0))
        self.housekeeping.flush_rate_log()
        self.jobs.wake.set()
        try:
            self.outcomes.flush()
            self.jobs.flush()
            self.lease.release()
        except Exception as exc:  # the database is gone: the lease simply expires
            log(logger, logging.WARNING, "could not release the lease; it will expire", error=repr(exc)[:300])
            self.lease.epoch = None
        IS_LEADER.set(0)
        if self.backend:
            try:
                self.backend.close()
            except Exception as exc:  # closing sessions on the way out: nothing left to protect
                log(logger, logging.DEBUG, "backend close failed", error=repr(exc)[:200])
        log(logger, logging.INFO, "dispatcher stopped", holder=self.holder)

    def _become_leader(self) -> bool:
        """Try the lease; on success build the backend, inherit the rate windows, lift old holds."""
        epoch = self.lease.acquire()
        if epoch is None:
            return False
        try:
            # The predecessor's calls of the last minute still count against Engage's windows.
            self.limiter.preload(self.ratelog.ages("loader"))
            if self.backend is None:
                self.backend = self.make_backend(self.lease)
            self.state = None
            self._set_state(EngageState.SANDBOX if self.backend.sandbox else EngageState.OK)
        except Exception:
            self.lease.epoch = None  # not ready to lead: contend again next pass (our own lease is re-takable)
            raise
        self.renewed_at = time.monotonic()
        IS_LEADER.set(1)
        log(logger, logging.INFO, "dispatcher is leader", holder=self.holder, epoch=epoch)
        # A predecessor's holds are not known here: let held leads flow, they re-hold if still failing.
        released = self.queue.release_held()
        if released:
            log(logger, logging.INFO, "held leads re-queued after takeover", count=released)
        self.waker.wake()
        self.jobs.wake.set()
        return True

    def _keep_lease(self) -> None:
        """Renew from the lanes' progress: a lane stuck in one call past half the lease stops renewal."""
        now = time.monotonic()
        if now - self.renewed_at < self.cfg["lease_seconds"] / 4:
            return
        # A call in flight is progress (its timeout follows Engage, not the lease); only a lane
        # far past any call's timeout is stuck, and then a standby should take over.
        busy = {**self.busy_since, "jobs": self.jobs.busy_since}
        stuck = [lane for lane, since in busy.items() if since is not None and now - since > self.stuck_after]
        if stuck:
            log(logger, logging.ERROR, "a lane is stuck; not renewing the lease", lanes=stuck)
            return
        if self.lease.renew():
            self.renewed_at = now
            return
        IS_LEADER.set(0)
        log(logger, logging.WARNING, "dispatcher lost the lease", holder=self.holder)

    def _probe_account_hold(self) -> None:
        """While credentials are refused, try for a token now and then (no lead is sent); lift the hold once one comes."""
        if not self.holds.account_probe_due(time.time()) or self.backend is None:
            return
        auth = getattr(self.backend.client, "auth", None)
        try:
            if auth is not None:
                auth.headers()
        except AuthError as exc:
            probe = self.holds.account_still_refused(self.cfg["hold_probe"])
            log(
                logger,
                logging.ERROR,
                "ALERT: Engage authentication still failing; leads stay held",
                error=str(exc),
                probe_in=round(probe, 1),
            )
            return
        except Exception as exc:  # token endpoints down: an outage, try again soon
            self.holds.account_probe_later(min(self.cfg["hold_probe"], self.cfg["outage_probe_cap"]))
            log(logger, logging.WARNING, "account hold probe could not reach Engage", error=str(exc)[:200])
            return
        self.holds.lift_account()
        count = self.queue.release_held()
        self._set_state(EngageState.SANDBOX if self.backend.sandbox else EngageState.OK)
        self.waker.wake()
        log(logger, logging.INFO, "Engage credentials work again; held leads released", leads=count)

    def _set_state(self, state: str, detail: str = "") -> None:
        """Publish Engage's state in the lease row when it changes."""
        if state != self.state:
            try:
                self.lease.set_engage_state(state, detail)
                self.state = state
            except Exception as exc:  # only a report for /readyz: never worth failing a send over
                log(logger, logging.WARNING, "could not publish Engage state", state=state, error=repr(exc)[:200])
