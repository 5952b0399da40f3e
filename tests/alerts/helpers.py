"""Helpers for the alerts tests: the config with an alerts section, alert loops, one round of a loop."""

from __future__ import annotations

import threading
import time

from alerts.runner import AlertRunner
from store import db
from tests.admin.helpers import CONFIG


def config(receiver, extra: str = "") -> str:
    """The admin test config plus an alerts section pointing at the receiver."""
    return (
        CONFIG
        + f"""
alerts:
  webhook: {receiver.url}
  backlog_max_age: 1h
  repeat_every: 1h
  check_every: 0.2s
  dispatcher_grace: 0s
{extra}"""
    )


def runners(app, n: int) -> list[AlertRunner]:
    """`n` alert loops on separate engines, as `n` processes would have."""
    runtime = app.extensions["leadrelay"]
    return [
        AlertRunner(db.make_engine(runtime.settings.database_url), runtime.settings, threading.Event())
        for _ in range(n)
    ]


def tick(loop: AlertRunner) -> None:
    """One round, after the snapshot cache (check_every, 0.2 s) has expired."""
    time.sleep(0.25)
    loop.tick()
