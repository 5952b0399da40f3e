"""The dispatcher: lease → claim → batch → rate limit → send → settle, one active process at a time.

Each job has its own room; `Dispatcher` only puts them together:

- core.py: the shared parts (queue, lease, limiter, budget, holds, outcomes), built once
- leader.py: leadership (lease acquire, renew, release), the leader loop, the account-hold probe
- lanes.py: one thread per lane, the budget policy's plan, the claim
- batching.py: claimed leads → one call per campaign and load options
- sender.py: the lead-loader call and settling each lead by the outcome
- holds.py: the account hold, the campaign breakers and the outage probe, behind one lock
- housekeeping.py: rate-log flush and retention purge
- backoff.py: the one backoff formula
"""

from __future__ import annotations

from dispatch.core import Backend, identity
from dispatch.holds import OUTAGE
from dispatch.lanes import Lanes
from dispatch.leader import Leadership
from dispatch.sender import Sending


class Dispatcher(Leadership, Lanes, Sending):
    """Leader election and lease renewal in `run()`; one worker thread per lane does the sending."""


__all__ = ["OUTAGE", "Backend", "Dispatcher", "identity"]
