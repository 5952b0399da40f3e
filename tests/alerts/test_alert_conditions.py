"""Alert conditions evaluated on a given snapshot (the numbers a message carries)."""

from __future__ import annotations

import time

from alerts.conditions import evaluate, message
from lead.lifecycle import LeadStatus
from store.lease import EngageState
from store.operator import Snapshot
from tests.admin.helpers import CONFIG


def auth_held(statuses: dict[str, int]) -> Snapshot:
    """A snapshot taken while Engage refuses the credentials, with these lead counts."""
    return Snapshot(
        now=time.time(),
        statuses=statuses,
        oldest={},
        waiting=0,
        dispatcher_up=True,
        heartbeat_age=1.0,
        holder="vm:1:1",
        engage_state=EngageState.HELD,
        engage_detail="authentication failed: invalid_client",
        speed={},
    )


def test_engage_auth_counts_the_leads_being_held_when_it_fires(make_app, db_url):
    """The dispatcher publishes the account hold before it settles the refused batch `held` (so whoever sees a
    held lead also sees the hold): a snapshot between the two saw 0 held, and the first message said
    "0 lead(s) are held" (the alerts end-to-end test failed on it under load). A lead still `sending` during
    an account hold is one being held: it counts."""
    app = make_app(CONFIG, db_url)
    runtime = app.extensions["leadrelay"]
    between = auth_held({LeadStatus.SENDING: 2})
    condition = next(c for c in evaluate(runtime.engine, runtime.settings, between, {}) if c.kind == "engage_auth")
    assert condition.active and condition.details[LeadStatus.HELD] == 2
    text_ = message("engage_auth", "firing", condition.details, since=between.now - 60, now=between.now)
    assert "2 lead(s) are held" in text_
    after = auth_held({LeadStatus.HELD: 2, LeadStatus.QUEUED: 1})
    condition = next(c for c in evaluate(runtime.engine, runtime.settings, after, {}) if c.kind == "engage_auth")
    assert condition.details[LeadStatus.HELD] == 2
