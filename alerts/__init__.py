"""Alerts that reach a person, off every request path.

Conditions are read from the database, one sender announces each change (the database arbitrates),
and messages are delivered as Slack-compatible JSON with retries.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from alerts.runner import AlertRunner

if TYPE_CHECKING:
    from flask import Flask


def start(app: Flask) -> AlertRunner | None:
    """Start this process's alert loop (web workers and the dispatcher worker alike); idempotent."""
    runtime = app.extensions["leadrelay"]
    existing: AlertRunner | None = app.extensions.get("leadrelay_alerts")
    if existing is not None:
        return existing
    runner = AlertRunner(runtime.engine, runtime.settings, runtime.stop)
    thread = threading.Thread(target=runner.run, name="leadrelay-alerts", daemon=True)
    thread.start()
    app.extensions["leadrelay_alerts"] = runner
    return runner
