"""Alerts that reach a person: conditions read from the database, one sender per change (the
database arbitrates), delivered as Slack-compatible JSON with retries, off every request path.
"""

from __future__ import annotations

import threading

from alerts.runner import AlertRunner


def start(app) -> AlertRunner | None:
    """Start this process's alert loop (web workers and the dispatcher worker alike); idempotent."""
    runtime = app.extensions["leadrelay"]
    existing = app.extensions.get("leadrelay_alerts")
    if existing is not None:
        return existing
    runner = AlertRunner(runtime.engine, runtime.settings, runtime.stop)
    thread = threading.Thread(target=runner.run, name="leadrelay-alerts", daemon=True)
    thread.start()
    app.extensions["leadrelay_alerts"] = runner
    return runner
