"""What stops the lanes: the account hold, each campaign's breaker and the outage probe, behind one lock."""

from __future__ import annotations

import random
import threading
import time

from dispatch.backoff import backoff

# What a person reads in last_error while leads wait for an account-wide outage; they are expedited
# by their status_reason (LeadReason.OUTAGE) when Engage answers again, never by this text.
OUTAGE = "Engage unavailable: "
# The breaker's key for the account itself (credentials refused), next to the campaigns' names.
ACCOUNT = "__account__"
# However long a breaker has been open, it is probed at least hourly.
HOLD_PROBE_MAX = 3600.0


class Holds:
    """The state both lanes and the leader loop share; every change happens under `lock`."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.account_held = False  # credentials refused: nothing is claimed until a token can be had
        self.account_hold_until = 0.0  # when the leader loop next tries for a token
        self.outage_until = 0.0  # Engage unreachable: nothing is claimed until the probe
        self.outage_failures = 0
        self.probe_lock = threading.Lock()  # during an outage only one lane calls Engage (the probe)
        self.campaign_holds: dict[str, float] = {}  # campaign → time of the next probe
        self.hold_failures: dict[str, int] = {}  # campaign (or ACCOUNT) → consecutive failures

    def stopped(self, now: float) -> bool:
        """The account is held or down: claimed leads wait, burning nothing."""
        return self.account_held or now < self.outage_until

    def held_campaigns(self) -> list[str]:
        """Campaigns whose breaker is open (their leads are not claimed)."""
        with self.lock:
            return list(self.campaign_holds)

    def due_campaigns(self, now: float) -> list[str]:
        """Take the campaigns whose probe time has come; each is handed to one caller only."""
        with self.lock:
            due = [campaign for campaign, probe_at in self.campaign_holds.items() if now >= probe_at]
            for campaign in due:
                # pop, not del: both lanes probe, and only one may take each hold.
                self.campaign_holds.pop(campaign, None)
        return due

    def first_failure(self, campaign: str) -> bool:
        """This campaign has not failed since Engage last answered for it."""
        with self.lock:
            return campaign not in self.hold_failures

    def re_resolved(self, campaign: str) -> None:
        """The campaign's name was looked up again once: the next failure opens its breaker."""
        with self.lock:
            self.hold_failures.setdefault(campaign, 0)

    def open_breaker(self, campaign: str, hold_probe: float) -> float:
        """Hold a campaign; returns the seconds until its probe (doubling with each failure)."""
        with self.lock:
            probe = self._failed(campaign, hold_probe)
            self.campaign_holds[campaign] = time.time() + probe
        return probe

    def hold_account(self, hold_probe: float) -> float:
        """Credentials refused: hold the account; returns the seconds until the next token attempt."""
        with self.lock:
            probe = self._failed(ACCOUNT, hold_probe)
            self.account_held = True
            self.account_hold_until = time.time() + probe
        return probe

    def account_probe_due(self, now: float) -> bool:
        """The account is held and its next token attempt is due."""
        return self.account_held and now >= self.account_hold_until

    def account_still_refused(self, hold_probe: float) -> float:
        """A token attempt was refused again; returns the seconds until the next one."""
        with self.lock:
            probe = self._failed(ACCOUNT, hold_probe)
            self.account_hold_until = time.time() + probe
        return probe

    def account_probe_later(self, wait: float) -> None:
        """The token endpoints could not be reached: try again in `wait` seconds."""
        self.account_hold_until = time.time() + wait

    def lift_account(self) -> None:
        """A token came: leads may flow again."""
        with self.lock:
            self.account_held = False

    def wait_out(self, wait: float) -> None:
        """Claim nothing for `wait` seconds (the token budget is spent)."""
        with self.lock:
            self.outage_until = max(self.outage_until, time.time() + wait)

    def outage(self, base: float, cap: float, rng: random.Random) -> float:
        """Engage is unreachable: one more failed probe; returns the seconds until the next one."""
        with self.lock:
            self.outage_failures += 1
            delay = backoff(self.outage_failures - 1, base, cap, rng)
            self.outage_until = max(self.outage_until, time.time() + delay)
        return delay

    def answered(self, campaign: str) -> bool:
        """Engage answered a call: close the outage and this campaign's breaker; True if it had been down."""
        with self.lock:
            was_down = self.outage_failures > 0
            self.outage_failures = 0
            self.outage_until = 0.0
            self.hold_failures.pop(campaign, None)
            self.hold_failures.pop(ACCOUNT, None)
        return was_down

    def _failed(self, key: str, hold_probe: float) -> float:
        """Count one more failure of `key` (lock held); its next probe comes after a doubling delay."""
        failures = self.hold_failures.get(key, 0) + 1
        self.hold_failures[key] = failures
        return backoff(failures - 1, hold_probe, HOLD_PROBE_MAX)
